"""Markdown runbook page -> `Runbook`, with every problem reported as file:line.

markdown-it-py finds the front matter, headings and fences; the braced attributes
of a fence's info string are read with mdit-py-plugins' attribute parser, the same
`{ key=value }` syntax pymdownx.superfences renders as ordinary code on the site.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.attrs.parse import ParseError as AttrsParseError
from mdit_py_plugins.attrs.parse import parse as parse_attrs
from mdit_py_plugins.front_matter import front_matter_plugin

from tui.content import ROOT
from tui.runbooks.problems import ContentError, Problem, display_path
from tui.runbooks.runbook import (
    PARAMETER_TYPES,
    SECTION_OF_KIND,
    SECTIONS,
    SEVERITIES,
    STEP_KINDS,
    TARGETS,
    DetectionRule,
    Parameter,
    Runbook,
    Step,
)

RUNBOOKS_DIR = ROOT / "docs" / "runbooks"


def runbooks_dir() -> Path:
    """The runbook folder: $RUNNERDOC_RUNBOOKS_DIR (a team's own), else the shipped ones."""
    override = os.environ.get("RUNNERDOC_RUNBOOKS_DIR")
    return Path(override).expanduser() if override else RUNBOOKS_DIR


KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*")
DURATION = re.compile(r"[0-9]+(?:-[0-9]+)?m")
OPS = ("<", "<=", ">", ">=", "==", "!=")
GITHUB_STATES = ("idle", "active", "offline", "orphan")

FRONT_MATTER_FIELDS = {
    "id": True,
    "title": True,
    "severity": True,
    "team": True,
    "summary": True,
    "symptom": True,
    "time_to_remediate": True,
    "alerts": True,
    "detection": True,
    "parameters": True,
    "quick_reference": True,
    "escalation": True,
}
STEP_ATTRIBUTES = (
    "name",
    "kind",
    "target",
    "confirm",
    "destructive",
    "timeout",
    "expect_exit",
    "expect_output",
    "expect_no_output",
    "on_fail",
    "on_pass",
    "rollback",
    "capture",
)
PARAMETER_FIELDS = ("type", "pattern", "default", "description")
RULE_FIELDS = {
    "github": ("source", "state", "description"),
    "metric": ("source", "query", "op", "threshold", "params", "description"),
}


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark").use(front_matter_plugin).enable("table")


@dataclass
class _Page:
    """Working state while one page is read."""

    path: Path
    shown: str
    lines: list[str]
    problems: list[Problem] = field(default_factory=list)
    # Names of steps whose block could not be read: references to them are not
    # reported again, so one mistake gives one message.
    broken_steps: set[str] = field(default_factory=set)

    def problem(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.shown, line, message))


def parse_runbook(path: Path, text: str | None = None) -> Runbook:
    """Read one runbook page; raise ContentError listing every problem found."""
    runbook, problems = read_runbook(path, text)
    if problems or runbook is None:
        raise ContentError(problems)
    return runbook


def read_runbook(path: Path, text: str | None = None) -> tuple[Runbook | None, list[Problem]]:
    """Read one runbook page, returning what could be built and the problems found."""
    path = Path(path)
    shown = display_path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            return None, [Problem(shown, 1, f"cannot read runbook: {e}")]
    page = _Page(path, shown, text.splitlines())
    tokens = _markdown().parse(text)

    if not tokens or tokens[0].type != "front_matter":
        page.problem(1, "no front matter: a runbook starts with a '---' YAML block")
        return None, page.problems
    fm_token = tokens[0]
    fm_end = fm_token.map[1] if fm_token.map else 0
    meta, lines_of = _front_matter(page, fm_token.content, first_line=2)
    if meta is None:
        return None, page.problems

    parameters = _parameters(page, meta.get("parameters"), lines_of)
    body_start = fm_end  # 0-based index of the first body line
    body = "\n".join(page.lines[body_start:]) + "\n"
    sections, steps = _sections_and_steps(page, tokens[1:], len(page.lines))
    _check_meta(page, meta, lines_of, steps)
    detection = _detection(page, meta.get("detection"), lines_of)

    quick = meta.get("quick_reference") if isinstance(meta.get("quick_reference"), dict) else {}
    runbook = Runbook(
        id=str(meta.get("id", path.stem)),
        title=str(meta.get("title", "")),
        severity=str(meta.get("severity", "")),
        team=str(meta.get("team", "")),
        summary=str(meta.get("summary", "")),
        symptom=str(meta.get("symptom", "")),
        time_to_remediate=str(meta.get("time_to_remediate", "")),
        alerts=tuple(str(a) for a in meta.get("alerts") or () if isinstance(a, str)),
        detection=tuple(detection),
        parameters=parameters,
        quick_reference={str(k): str(v) for k, v in quick.items()},
        escalation=str(meta.get("escalation", "")),
        steps=tuple(steps),
        sections=sections,
        body=body,
        path=path,
    )
    _check_references(page, runbook)
    return runbook, page.problems


# --- front matter -------------------------------------------------------------------


def _front_matter(
    page: _Page, content: str, first_line: int
) -> tuple[dict[str, Any] | None, dict[tuple[Any, ...], int]]:
    """Parse the YAML and remember the file line of every key, for messages."""
    try:
        node = yaml.compose(content, Loader=yaml.SafeLoader)
        meta = yaml.safe_load(content)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = first_line + (mark.line if mark else 0)
        reason = getattr(e, "problem", None) or str(e)
        page.problem(line, f"front matter is not valid YAML: {reason}")
        return None, {}
    if not isinstance(meta, dict) or node is None:
        page.problem(first_line, "front matter must be a YAML mapping of fields")
        return None, {}
    lines_of: dict[tuple[Any, ...], int] = {}

    def walk(n: yaml.Node, prefix: tuple[Any, ...]) -> None:
        if isinstance(n, yaml.MappingNode):
            seen: set[str] = set()
            for k, v in n.value:
                key = k.value
                line = first_line + k.start_mark.line
                if key in seen:
                    page.problem(
                        line, f"front matter key {'.'.join(map(str, (*prefix, key)))} appears twice"
                    )
                seen.add(key)
                lines_of[(*prefix, key)] = line
                walk(v, (*prefix, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines_of[(*prefix, i)] = first_line + item.start_mark.line
                walk(item, (*prefix, i))

    walk(node, ())
    return meta, lines_of


def _line(lines_of: dict[tuple[Any, ...], int], *key: Any) -> int:
    """The line of the deepest known part of a key path."""
    for n in range(len(key), 0, -1):
        if key[:n] in lines_of:
            return lines_of[key[:n]]
    return 2


def _check_meta(
    page: _Page, meta: dict[str, Any], lines_of: dict[tuple[Any, ...], int], steps: list[Step]
) -> None:
    for name, required in FRONT_MATTER_FIELDS.items():
        if required and name not in meta:
            page.problem(2, f"front matter is missing required field {name!r}")
    for name in meta:
        if name not in FRONT_MATTER_FIELDS:
            page.problem(_line(lines_of, name), f"unknown front matter field {name!r}")
    for name in ("title", "team", "summary", "symptom", "escalation"):
        if name in meta and (not isinstance(meta[name], str) or not meta[name].strip()):
            page.problem(_line(lines_of, name), f"{name} must be a non-empty string")
    rid = meta.get("id")
    if "id" in meta:
        if not isinstance(rid, str) or not KEBAB.fullmatch(rid):
            page.problem(_line(lines_of, "id"), f"id {rid!r} must be kebab-case")
        elif rid != page.path.stem:
            page.problem(
                _line(lines_of, "id"),
                f"id {rid!r} must equal the file name {page.path.stem!r}",
            )
    if "severity" in meta and meta["severity"] not in SEVERITIES:
        page.problem(
            _line(lines_of, "severity"),
            f"severity {meta['severity']!r} must be one of {', '.join(SEVERITIES)}",
        )
    ttr = meta.get("time_to_remediate")
    if "time_to_remediate" in meta and not (isinstance(ttr, str) and DURATION.fullmatch(ttr)):
        page.problem(
            _line(lines_of, "time_to_remediate"),
            f"time_to_remediate {ttr!r} must look like '5-15m' or '10m'",
        )
    alerts = meta.get("alerts")
    if "alerts" in meta:
        if not isinstance(alerts, list):
            page.problem(_line(lines_of, "alerts"), "alerts must be a list of alert names")
        else:
            for i, a in enumerate(alerts):
                if not isinstance(a, str) or not CAMEL.fullmatch(a):
                    page.problem(
                        _line(lines_of, "alerts", i), f"alert name {a!r} must be CamelCase"
                    )
    quick = meta.get("quick_reference")
    if "quick_reference" in meta:
        if not isinstance(quick, dict):
            page.problem(
                _line(lines_of, "quick_reference"),
                "quick_reference must map first_check and fix to step names",
            )
        else:
            names = {s.name for s in steps} | page.broken_steps
            for key in ("first_check", "fix"):
                if key not in quick:
                    page.problem(
                        _line(lines_of, "quick_reference"), f"quick_reference is missing {key!r}"
                    )
                elif quick[key] not in names:
                    page.problem(
                        _line(lines_of, "quick_reference", key),
                        f"quick_reference.{key} names step {quick[key]!r}, which is not on"
                        " this page",
                    )
            for key in quick:
                if key not in ("first_check", "fix"):
                    page.problem(
                        _line(lines_of, "quick_reference", key),
                        f"unknown quick_reference field {key!r}",
                    )


def _parameters(
    page: _Page, raw: Any, lines_of: dict[tuple[Any, ...], int]
) -> dict[str, Parameter]:
    params: dict[str, Parameter] = {}
    if raw is None:
        return params
    if not isinstance(raw, dict):
        page.problem(_line(lines_of, "parameters"), "parameters must be a mapping of names")
        return params
    for name, decl in raw.items():
        line = _line(lines_of, "parameters", name)
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            page.problem(line, f"parameter name {name!r} must be lower_snake_case")
            continue
        if not isinstance(decl, dict):
            page.problem(line, f"parameter {name}: declaration must be a mapping")
            continue
        for key in decl:
            if key not in PARAMETER_FIELDS:
                page.problem(
                    _line(lines_of, "parameters", name, key),
                    f"parameter {name}: unknown field {key!r}",
                )
        ptype = decl.get("type")
        if ptype not in PARAMETER_TYPES:
            page.problem(
                _line(lines_of, "parameters", name, "type"),
                f"parameter {name}: type {ptype!r} must be one of {', '.join(PARAMETER_TYPES)}",
            )
            ptype = "string"
        pattern = decl.get("pattern")
        if pattern is None and ptype not in ("secret", "integer"):
            page.problem(line, f"parameter {name}: a {ptype} parameter needs a validation pattern")
        if pattern is not None:
            try:
                re.compile(str(pattern))
            except re.error as e:
                page.problem(
                    _line(lines_of, "parameters", name, "pattern"),
                    f"parameter {name}: pattern does not compile: {e}",
                )
                pattern = None
        default = decl.get("default")
        param = Parameter(
            name=name,
            type=ptype,
            pattern=None if pattern is None else str(pattern),
            default=None if default is None else str(default),
            description=str(decl.get("description", "")),
            line=line,
        )
        if ptype == "secret" and default is not None:
            page.problem(line, f"parameter {name}: a secret cannot have a default")
        elif param.default is not None:
            try:
                param.validate(param.default)
            except ValueError as e:
                page.problem(_line(lines_of, "parameters", name, "default"), f"default: {e}")
        if not param.description:
            page.problem(line, f"parameter {name}: add a description")
        params[name] = param
    return params


def _detection(page: _Page, raw: Any, lines_of: dict[tuple[Any, ...], int]) -> list[DetectionRule]:
    rules: list[DetectionRule] = []
    if raw is None:
        return rules
    if not isinstance(raw, list):
        page.problem(_line(lines_of, "detection"), "detection must be a list of rules")
        return rules
    for i, rule in enumerate(raw):
        line = _line(lines_of, "detection", i)
        if not isinstance(rule, dict):
            page.problem(line, "a detection rule must be a mapping")
            continue
        source = rule.get("source")
        if source not in RULE_FIELDS:
            page.problem(line, f"detection rule source {source!r} must be github or metric")
            continue
        for key in rule:
            if key not in RULE_FIELDS[source]:
                page.problem(
                    _line(lines_of, "detection", i, key),
                    f"detection rule: unknown field {key!r} for source {source}",
                )
        if source == "github":
            state = rule.get("state")
            if state not in GITHUB_STATES:
                page.problem(
                    line,
                    f"detection rule state {state!r} must be one of {', '.join(GITHUB_STATES)}",
                )
            rules.append(
                DetectionRule(
                    "github", line, state=state, description=str(rule.get("description", ""))
                )
            )
            continue
        op, threshold, query = rule.get("op"), rule.get("threshold"), rule.get("query")
        if op not in OPS:
            page.problem(line, f"detection rule op {op!r} must be one of {' '.join(OPS)}")
        if not isinstance(threshold, int | float) or isinstance(threshold, bool):
            page.problem(line, f"detection rule threshold {threshold!r} must be a number")
            threshold = None
        if not isinstance(query, str):
            page.problem(line, "a metric detection rule needs a query template id")
        params = rule.get("params") or {}
        if not isinstance(params, dict):
            page.problem(line, "detection rule params must be a mapping")
            params = {}
        rules.append(
            DetectionRule(
                "metric",
                line,
                query=query if isinstance(query, str) else None,
                op=op if op in OPS else None,
                threshold=None if threshold is None else float(threshold),
                params={str(k): str(v) for k, v in params.items()},
                description=str(rule.get("description", "")),
            )
        )
    return rules


# --- body -----------------------------------------------------------------------------


def _sections_and_steps(
    page: _Page, tokens: list[Any], n_lines: int
) -> tuple[dict[str, str], list[Step]]:
    """Split the body into `##` sections and `###` steps with their fences."""
    headings: list[tuple[int, int, str]] = []  # (level, 0-based line, text)
    fences: list[Any] = []
    for i, t in enumerate(tokens):
        if t.type == "heading_open" and t.map:
            headings.append((int(t.tag[1]), t.map[0], tokens[i + 1].content.strip()))
        elif t.type == "fence" and t.map:
            fences.append(t)
        elif t.type == "code_block" and t.map and "{" in t.content and "kind=" in t.content:
            page.problem(t.map[0] + 1, "indented code is not a step: use a ``` fence")

    if not any(level == 1 for level, _, _ in headings):
        page.problem(1, "the page has no '# Title' heading")

    h2 = [(line, text) for level, line, text in headings if level == 2]
    names = [text for _, text in h2]
    for line, text in h2:
        if text not in SECTIONS:
            page.problem(line + 1, f"unknown section {text!r}; sections are: {', '.join(SECTIONS)}")
    for required in SECTIONS:
        if required not in names:
            page.problem(1, f"missing section '## {required}'")
    known = [n for n in names if n in SECTIONS]
    if known != [s for s in SECTIONS if s in known]:
        page.problem(
            h2[0][0] + 1 if h2 else 1,
            "sections are out of order; the order is: " + ", ".join(SECTIONS),
        )
    if len(set(known)) != len(known):
        dup = next(n for n in known if known.count(n) > 1)
        page.problem(1, f"section '## {dup}' appears twice")

    sections: dict[str, str] = {}
    bounds = [*h2, (n_lines, "")]
    for (start, name), (end, _) in itertools.pairwise(bounds):
        sections.setdefault(name, "\n".join(page.lines[start + 1 : end]).strip() + "\n")

    def section_at(line: int) -> str | None:
        current = None
        for start, name in h2:
            if start <= line:
                current = name
        return current

    h3 = [(line, text) for level, line, text in headings if level == 3]
    steps: list[Step] = []
    seen_names: dict[str, int] = {}
    step_bounds = sorted([*[(ln, t) for ln, t in h3], *[(ln, "") for ln, _ in h2]])
    for line, title in h3:
        following = [ln for ln, _ in step_bounds if ln > line]
        end = following[0] if following else n_lines
        inside = [f for f in fences if line < f.map[0] < end]
        section = section_at(line)
        if section not in ("Diagnosis", "Mitigation", "Verification"):
            for f in inside:
                if "{" in f.info:
                    page.problem(
                        f.map[0] + 1,
                        f"a step command belongs in Diagnosis, Mitigation"
                        f" or Verification, not in {section!r}",
                    )
            continue
        if not inside:
            page.problem(line + 1, f"step '{title}' has no command block")
            continue
        chosen = next((f for f in inside if "{" in f.info), inside[0])
        for extra in inside:
            if extra is not chosen:
                page.problem(
                    extra.map[0] + 1,
                    f"step '{title}' has {len(inside)} command blocks; a step has one",
                )
        step = _step(page, title, line, chosen, section, end)
        if step is None:
            continue
        if step.name in seen_names:
            page.problem(
                inside[0].map[0] + 1,
                f"step name {step.name!r} is used twice (first on line {seen_names[step.name]})",
            )
            continue
        seen_names[step.name] = inside[0].map[0] + 1
        steps.append(step)

    # Fences in step sections that are not under a ### heading are not runnable.
    for f in fences:
        section = section_at(f.map[0])
        under_h3 = any(ln < f.map[0] and not any(ln < b < f.map[0] for b, _ in h2) for ln, _ in h3)
        if section in ("Diagnosis", "Mitigation", "Verification") and not under_h3:
            page.problem(f.map[0] + 1, "a command block needs its own '###' step heading")
    return sections, steps


def _step(page: _Page, title: str, heading: int, fence: Any, section: str, end: int) -> Step | None:
    fline = fence.map[0] + 1
    info = fence.info.strip()
    named = re.search(r"\bname=([A-Za-z0-9_-]+)", info)
    if named:
        page.broken_steps.add(named.group(1))  # removed again once the step is built
    brace = info.find("{")
    if brace < 0:
        if "=" in info:
            page.problem(
                fline,
                "step attributes must be in braces, e.g. ```bash { name=x "
                "kind=diagnose }; without braces the site shows the block as text",
            )
        else:
            page.problem(fline, f"step '{title}' command block has no {{ name=... kind=... }}")
        return None
    language = info[:brace].strip()
    if not language:
        page.problem(fline, "the command block needs a language, e.g. ```bash { ... }")
    try:
        end_pos, attrs = parse_attrs(info[brace:])
    except AttrsParseError as e:
        page.problem(fline, f"cannot read the braced attributes: {e}")
        return None
    # parse() returns the index of the closing brace.
    rest = info[brace + end_pos + 1 :].strip()
    if rest:
        page.problem(fline, f"unexpected text after the attributes: {rest!r}")
    if "id" in attrs or "class" in attrs:
        page.problem(fline, "use name=... for the step, not #id or .class")
    for key in attrs:
        if key not in STEP_ATTRIBUTES and key not in ("id", "class"):
            page.problem(fline, f"unknown step attribute {key!r}")
    name = attrs.get("name")
    if not name:
        page.problem(fline, f"step '{title}' has no name=")
        return None
    if not KEBAB.fullmatch(name):
        page.problem(fline, f"step name {name!r} must be kebab-case")
    kind = attrs.get("kind")
    if kind not in STEP_KINDS:
        page.problem(fline, f"step {name}: kind {kind!r} must be one of {', '.join(STEP_KINDS)}")
        return None
    if SECTION_OF_KIND[kind] != section:
        page.problem(
            fline, f"step {name}: a {kind} step belongs in {SECTION_OF_KIND[kind]}, not {section}"
        )
    target = attrs.get("target", "runner")
    if target not in TARGETS:
        page.problem(fline, f"step {name}: target {target!r} must be runner or local")

    def flag(key: str, default: bool) -> bool:
        value = attrs.get(key)
        if value is None:
            return default
        if value not in ("true", "false"):
            page.problem(fline, f"step {name}: {key} must be true or false, not {value!r}")
            return default
        return value == "true"

    changes = kind in ("remediate", "rollback")
    destructive = flag("destructive", False)
    confirm = flag("confirm", changes)
    if destructive and kind != "remediate":
        page.problem(fline, f"step {name}: only a remediate step can be destructive")
    if destructive and kind == "remediate" and not confirm:
        page.problem(fline, f"step {name}: a destructive step cannot have confirm=false")
    confirm = confirm or destructive

    timeout = 60
    if "timeout" in attrs:
        if re.fullmatch(r"[1-9][0-9]*", attrs["timeout"]):
            timeout = int(attrs["timeout"])
        else:
            page.problem(fline, f"step {name}: timeout {attrs['timeout']!r} must be whole seconds")
    expect_exit: tuple[int, ...] = (0,)
    if "expect_exit" in attrs:
        if re.fullmatch(r"[0-9]{1,3}(,[0-9]{1,3})*", attrs["expect_exit"]):
            expect_exit = tuple(int(x) for x in attrs["expect_exit"].split(","))
        else:
            page.problem(
                fline,
                f"step {name}: expect_exit {attrs['expect_exit']!r} must be exit"
                " codes separated by commas",
            )
    for key in ("expect_output", "expect_no_output"):
        if key in attrs:
            try:
                re.compile(attrs[key])
            except re.error as e:
                page.problem(fline, f"step {name}: {key} is not a valid regex: {e}")

    default_fail = "next" if kind == "diagnose" else "abort"
    command = fence.content.rstrip("\n")
    if not command.strip():
        page.problem(fline, f"step {name}: the command block is empty")
    _check_quoting(page, name, command, fline + 1)
    prose = "\n".join(page.lines[heading + 1 : fence.map[0]]).strip()
    if not prose:
        page.problem(heading + 1, f"step {name}: say in a sentence what it does and why")
    page.broken_steps.discard(name)
    return Step(
        name=name,
        title=title,
        kind=kind,
        command=command,
        language=language,
        section=section,
        prose=prose,
        line=heading + 1,
        fence_line=fline,
        target=target if target in TARGETS else "runner",
        confirm=confirm,
        destructive=destructive,
        timeout=timeout,
        expect_exit=expect_exit,
        expect_output=attrs.get("expect_output"),
        expect_no_output=attrs.get("expect_no_output"),
        on_fail=attrs.get("on_fail", default_fail),
        on_pass=attrs.get("on_pass", "next"),
        rollback=attrs.get("rollback"),
        capture=attrs.get("capture"),
    )


def _check_quoting(page: _Page, step: str, command: str, first_line: int) -> None:
    """Placeholders are shell-quoted on substitution, so they must not sit inside quotes.

    A small scanner tracks shell quoting: single quotes, double quotes, and `$( )`
    or backticks, which open a fresh unquoted context even inside double quotes.
    """
    from tui.runbooks.runbook import PLACEHOLDER

    contexts: list[str] = ["plain"]  # plain | single | double | subst
    depth: list[int] = [0]
    i = 0
    quoted_at: dict[int, str] = {}
    while i < len(command):
        ch = command[i]
        ctx = contexts[-1]
        if ctx == "single":
            if ch == "'":
                contexts.pop()
                depth.pop()
        elif ch == "\\":
            i += 1
        elif ctx == "double" and ch == '"':
            contexts.pop()
            depth.pop()
        elif ch == "$" and command[i + 1 : i + 2] == "(":
            contexts.append("subst")
            depth.append(0)
            i += 1
        elif ctx == "subst" and ch == "(":
            depth[-1] += 1
        elif ctx == "subst" and ch == ")":
            if depth[-1] == 0:
                contexts.pop()
                depth.pop()
            else:
                depth[-1] -= 1
        elif ctx != "double" and ch == "'":
            contexts.append("single")
            depth.append(0)
        elif ch == '"':
            contexts.append("double")
            depth.append(0)
        if ch == "{" and contexts[-1] in ("single", "double"):
            quoted_at[i] = contexts[-1]
        i += 1
    for m in PLACEHOLDER.finditer(command):
        if m.group(1) and m.start() in quoted_at:
            line = first_line + command.count("\n", 0, m.start())
            page.problem(
                line,
                f"step {step}: placeholder {{{m.group(1)}}} is inside {quoted_at[m.start()]}"
                " quotes; write it bare, its value is shell-quoted when substituted",
            )


# --- cross references ---------------------------------------------------------------


def _check_references(page: _Page, runbook: Runbook) -> None:
    names = {s.name: s for s in runbook.steps}
    known = set(names) | page.broken_steps
    used: set[str] = set()
    for s in runbook.steps:
        for key, target in (("on_fail", s.on_fail), ("on_pass", s.on_pass)):
            if target in ("next", "abort", "done"):
                if key == "on_pass" and target == "abort":
                    page.problem(s.fence_line, f"step {s.name}: on_pass cannot be abort")
                continue
            if target not in known:
                page.problem(
                    s.fence_line,
                    f"step {s.name}: {key} names step {target!r}, which is not on this page",
                )
        if s.rollback is not None:
            if s.rollback not in known:
                page.problem(
                    s.fence_line,
                    f"step {s.name}: rollback names step {s.rollback!r}, which is not on this page",
                )
            elif s.rollback in names and names[s.rollback].kind != "rollback":
                page.problem(
                    s.fence_line,
                    f"step {s.name}: rollback step {s.rollback!r} must have kind=rollback",
                )
            if s.kind != "remediate":
                page.problem(s.fence_line, f"step {s.name}: only remediate steps have a rollback")
        if s.capture is not None:
            if s.capture not in runbook.parameters:
                page.problem(
                    s.fence_line,
                    f"step {s.name}: capture names {s.capture!r}, which is"
                    " not a declared parameter",
                )
        for p in s.placeholders:
            used.add(p)
            if p not in runbook.parameters:
                page.problem(
                    s.fence_line, f"step {s.name}: placeholder {{{p}}} is not a declared parameter"
                )
        if s.capture:
            used.add(s.capture)
    for name, p in runbook.parameters.items():
        if name not in used:
            page.problem(p.line, f"parameter {name} is declared but no step uses it")
        if p.type == "secret" and not any(s.capture == name for s in runbook.steps):
            page.problem(p.line, f"parameter {name}: a secret must be filled by a step's capture=")
    rollbacks = {s.rollback for s in runbook.steps if s.rollback}
    for s in runbook.steps:
        if s.kind == "rollback" and s.name not in rollbacks:
            page.problem(
                s.fence_line,
                f"step {s.name}: rollback step is not named by any remediate step's rollback=",
            )


def runbook_files(directory: Path) -> list[Path]:
    """The runbook pages in a folder; index.md is the section's landing page, not a runbook."""
    return sorted(p for p in Path(directory).glob("*.md") if p.name != "index.md")


def load_runbooks(directory: Path | None = None) -> dict[str, Runbook]:
    """Every runbook in the folder by id; raise ContentError with all problems if any."""
    directory = runbooks_dir() if directory is None else Path(directory)
    runbooks: dict[str, Runbook] = {}
    problems: list[Problem] = []
    for path in runbook_files(directory):
        runbook, found = read_runbook(path)
        problems.extend(found)
        if runbook is not None and not found:
            runbooks[runbook.id] = runbook
    if problems:
        raise ContentError(problems)
    return runbooks
