"""Log shipping: what monitoring/alloy/config.alloy (and the legacy Promtail config)
make of the runner's logs, checked without Alloy, Promtail or Loki.

Neither program installs here, so this file holds a small evaluator for exactly the
pieces the two configs use: Alloy's syntax, file discovery with doublestar globs, the
journal source, relabel rules, and the stages multiline, regex, timestamp, template,
labels, structured_metadata, label_drop and static_labels, with the semantics of
Alloy's own code (internal/component/loki/process/stages). The regexes, globs and
templates are read from the config files, so a changed config changes the result.
Sample lines come from docs/runbooks/signatures.yaml and tests/golden/alloy/input/;
tests/golden/alloy/*.json hold what Loki must receive (RUNNERDOC_UPDATE_GOLDEN=1
rewrites them after a deliberate change).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tui.runbooks.signatures import load_signatures

REPO = Path(__file__).resolve().parent.parent
ALLOY = REPO / "monitoring" / "alloy" / "config.alloy"
PROMTAIL = REPO / "monitoring" / "promtail" / "promtail.yml"
GOLDEN = REPO / "tests" / "golden" / "alloy"
INPUT = GOLDEN / "input"

ROOT = "/home/runner/actions-runner"
HOSTNAME = "host-01"
ENV = {"RUNNERDOC_RUNNER": "runner-01", "HOSTNAME": HOSTNAME}
LABELS = {"job", "host", "runner", "source", "level"}


# --- Alloy's configuration syntax -------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A reference to another component's export or a constant (`a.b.c`)."""

    name: str


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Concat:
    parts: tuple[Any, ...]


@dataclass
class Block:
    name: str
    label: str | None
    attrs: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def children(self, name: str) -> list[Block]:
        return [b for b in self.blocks if b.name == name]


_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<comment>//[^\n]*|/\*.*?\*/)
    |(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<raw>`[^`]*`)
    |(?P<number>-?[0-9]+(?:\.[0-9]+)?)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<punct>[{}\[\]()=,.+])""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            line = text.count("\n", 0, pos) + 1
            raise SyntaxError(f"config.alloy:{line}: cannot read {text[pos : pos + 20]!r}")
        kind = m.lastgroup
        assert kind is not None
        if kind not in ("space", "comment"):
            out.append((kind, m.group(), text.count("\n", 0, pos) + 1))
        pos = m.end()
    return out


class AlloyParser:
    """Recursive descent over Alloy's grammar: blocks, attributes and the expressions
    the config uses (literals, lists, objects, references, calls and `+`)."""

    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.pos = 0

    def parse(self) -> list[Block]:
        root = Block("", None)
        self._body(root, end=None)
        return root.blocks

    def _peek(self, offset: int = 0) -> tuple[str, str, int]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else ("eof", "", -1)

    def _take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str, int]:
        tok = self._peek()
        if (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            raise SyntaxError(f"config.alloy:{tok[2]}: expected {value or kind}, got {tok[1]!r}")
        self.pos += 1
        return tok

    def _dotted(self) -> str:
        parts = [self._take(kind="ident")[1]]
        while self._peek()[1] == "." and self._peek(1)[0] == "ident":
            self._take(".")
            parts.append(self._take(kind="ident")[1])
        return ".".join(parts)

    def _body(self, block: Block, end: str | None) -> None:
        while True:
            tok = self._peek()
            if (end is None and tok[0] == "eof") or tok[1] == end:
                return
            name = self._dotted()
            if self._peek()[1] == "=":
                self._take("=")
                if name in block.attrs:
                    raise SyntaxError(f"config.alloy:{tok[2]}: {name} set twice")
                block.attrs[name] = self._expr()
            else:
                label = None
                if self._peek()[0] == "string":
                    label = _string(self._take()[1])
                self._take("{")
                child = Block(name, label)
                self._body(child, "}")
                self._take("}")
                block.blocks.append(child)

    def _expr(self) -> Any:
        parts = [self._term()]
        while self._peek()[1] == "+":
            self._take("+")
            parts.append(self._term())
        return parts[0] if len(parts) == 1 else Concat(tuple(parts))

    def _term(self) -> Any:
        kind, value, line = self._peek()
        if kind == "string":
            self.pos += 1
            return _string(value)
        if kind == "raw":
            self.pos += 1
            return value[1:-1]
        if kind == "number":
            self.pos += 1
            return float(value) if "." in value else int(value)
        if value == "[":
            self._take("[")
            items = []
            while self._peek()[1] != "]":
                items.append(self._expr())
                if self._peek()[1] != "]":
                    self._take(",")
            self._take("]")
            return items
        if value == "{":
            self._take("{")
            obj: dict[str, Any] = {}
            while self._peek()[1] != "}":
                key_kind, key, _ = self._take()
                if key_kind not in ("ident", "string"):
                    raise SyntaxError(f"config.alloy:{line}: object key {key!r}")
                self._take("=")
                obj[_string(key) if key_kind == "string" else key] = self._expr()
                if self._peek()[1] != "}":
                    self._take(",")
            self._take("}")
            return obj
        if kind == "ident":
            if value in ("true", "false", "null"):
                self.pos += 1
                return {"true": True, "false": False, "null": None}[value]
            name = self._dotted()
            if self._peek()[1] == "(":
                self._take("(")
                args = []
                while self._peek()[1] != ")":
                    args.append(self._expr())
                    if self._peek()[1] != ")":
                        self._take(",")
                self._take(")")
                return Call(name, tuple(args))
            return Ref(name)
        raise SyntaxError(f"config.alloy:{line}: unexpected {value!r}")


def _string(token: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], token[1:-1])


@dataclass(frozen=True)
class Host:
    """What the config sees of the machine it runs on."""

    hostname: str
    env: Mapping[str, str]


def evaluate(value: Any, host: Host) -> Any:
    """An expression's value; component exports stay references."""
    if isinstance(value, list):
        return [evaluate(v, host) for v in value]
    if isinstance(value, dict):
        return {k: evaluate(v, host) for k, v in value.items()}
    if isinstance(value, Concat):
        parts = [evaluate(p, host) for p in value.parts]
        assert all(isinstance(p, str) for p in parts), parts
        return "".join(parts)
    if isinstance(value, Call):
        args = [evaluate(a, host) for a in value.args]
        if value.name == "sys.env":
            return host.env.get(args[0], "")
        if value.name == "coalesce":
            return next((a for a in args if a not in ("", None, [], {})), args[-1])
        raise NotImplementedError(f"function {value.name}")
    if isinstance(value, Ref) and value.name == "constants.hostname":
        return host.hostname
    return value


# --- Doublestar globs (bmatcuk/doublestar v4, as local.file_match uses) -------------------


def _segment_regex(segment: str) -> str:
    out = []
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = segment.index("]", i + 1)
            body = segment[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]")
            i = end
        elif ch == "{":
            end = segment.index("}", i)
            alternatives = segment[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_segment_regex(a) for a in alternatives) + ")")
            i = end
        elif ch == "\\":
            i += 1
            out.append(re.escape(segment[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def glob_match(pattern: str, path: str) -> bool:
    """doublestar.PathMatch for the patterns the configs use: `**` as a whole segment
    (zero or more folders), `*`, `?`, classes and `{a,b}` within a segment."""
    if re.search(r"\{[^}]*/", pattern):
        raise NotImplementedError("alternatives spanning folders")
    parts = []
    for segment in pattern.split("/"):
        if segment == "**":
            parts.append("(?:[^/]+/)*")
        else:
            parts.append(_segment_regex(segment) + "/")
    regex = "".join(parts)[:-1]  # no separator after the last segment
    regex = regex.replace("(?:[^/]+/)*/", "(?:[^/]+/)*")
    return re.fullmatch(regex, path) is not None


# --- Log entries and the stages ---------------------------------------------------------


@dataclass
class Entry:
    labels: dict[str, str]
    line: str
    timestamp: str
    extracted: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    def result(self) -> dict[str, Any]:
        return {
            "labels": dict(sorted(self.labels.items())),
            "structured_metadata": dict(sorted(self.metadata.items())),
            "timestamp": self.timestamp,
            "line": self.line,
        }


Stage = Callable[[list[Entry]], list[Entry]]


def go_regex(expression: str) -> re.Pattern[str]:
    """An RE2 expression as Python's `re`. The configs keep to the common subset
    (no \\d, \\s or \\w, whose meanings differ); anything else is refused here."""
    if re.search(r"\\[dswDSWbB]|\(\?(?!P<)[a-zA-Z]", expression):
        raise NotImplementedError(f"regex construct outside the common subset: {expression}")
    return re.compile(expression)


def multiline_stage(cfg: Mapping[str, Any]) -> Stage:
    firstline = go_regex(cfg["firstline"])
    max_lines = int(cfg.get("max_lines", 128))

    def run(entries: list[Entry]) -> list[Entry]:
        out: list[Entry] = []
        blocks: dict[tuple[tuple[str, str], ...], tuple[Entry, list[str]]] = {}

        def flush(key: tuple[tuple[str, str], ...]) -> None:
            start, lines = blocks.pop(key)
            out.append(
                Entry(
                    dict(start.labels),
                    "\n".join(lines),
                    start.timestamp,
                    dict(start.extracted),
                    dict(start.metadata),
                )
            )

        for e in entries:
            key = tuple(sorted(e.labels.items()))
            first = firstline.search(e.line) is not None
            if key not in blocks and not first:
                out.append(e)  # before any first line: passed through on its own
                continue
            if first and key in blocks:
                flush(key)
            if first:
                blocks[key] = (e, [])
            blocks[key][1].append(e.line.rstrip("\r\n"))
            if len(blocks[key][1]) == max_lines:
                flush(key)
        for key in list(blocks):  # max_wait_time passes at the end of the input
            flush(key)
        return out

    return run


def regex_stage(cfg: Mapping[str, Any]) -> Stage:
    expression = go_regex(cfg["expression"])
    source = cfg.get("source")

    def run(entries: list[Entry]) -> list[Entry]:
        for e in entries:
            text = e.line if source is None else e.extracted.get(source)
            m = expression.search(text) if text is not None else None
            if m:
                e.extracted.update({k: v for k, v in m.groupdict().items() if v is not None})
        return entries

    return run


_GO_LAYOUT = {
    "2006": r"(?P<Y>[0-9]{4})",
    "01": r"(?P<m>[0-9]{2})",
    "02": r"(?P<d>[0-9]{2})",
    "15": r"(?P<H>[0-9]{2})",
    "04": r"(?P<M>[0-9]{2})",
    "05": r"(?P<S>[0-9]{2})",
    "Z07:00": r"(?P<z>Z|[+-][0-9]{2}:[0-9]{2})",
}


def timestamp_stage(cfg: Mapping[str, Any]) -> Stage:
    layout = cfg["format"]
    pieces = re.split("(" + "|".join(map(re.escape, _GO_LAYOUT)) + ")", layout)
    regex = re.compile("".join(_GO_LAYOUT.get(p, re.escape(p)) for p in pieces))
    assert cfg.get("location") is None, "the layout carries its zone"

    def run(entries: list[Entry]) -> list[Entry]:
        for e in entries:
            value = e.extracted.get(cfg["source"])
            m = regex.fullmatch(value) if value is not None else None
            if m is None:
                continue  # action_on_failure "fudge": the entry keeps the read time
            zone = "+00:00" if m["z"] == "Z" else m["z"]
            when = datetime.fromisoformat(
                f"{m['Y']}-{m['m']}-{m['d']}T{m['H']}:{m['M']}:{m['S']}{zone}"
            )
            e.timestamp = _iso(when)
        return entries

    return run


_TEMPLATE_FUNCS: dict[str, Callable[..., str]] = {
    "ToLower": str.lower,
    "ToUpper": str.upper,
    "TrimSpace": str.strip,
    "Replace": lambda s, old, new, n: s.replace(old, new, n if n >= 0 else -1),
}


def _template_value(tokens: list[str], data: Mapping[str, str]) -> Any:
    """A Go template pipeline of function calls, parentheses, `.field` and literals."""

    def term(pos: int) -> tuple[Any, int]:
        tok = tokens[pos]
        if tok == "(":
            value, pos = call(pos + 1)
            assert tokens[pos] == ")"
            return value, pos + 1
        if tok.startswith("."):
            return data.get(tok[1:]), pos + 1
        if tok.startswith('"'):
            return json.loads(tok), pos + 1
        if re.fullmatch(r"-?[0-9]+", tok):
            return int(tok), pos + 1
        return call(pos)

    def call(pos: int) -> tuple[Any, int]:
        if tokens[pos] in _TEMPLATE_FUNCS:
            func = _TEMPLATE_FUNCS[tokens[pos]]
            args = []
            pos += 1
            while pos < len(tokens) and tokens[pos] != ")":
                value, pos = term(pos)
                args.append(value)
            if any(a is None for a in args):
                raise LookupError("a field the template reads is missing")
            return func(*args), pos
        return term(pos)

    value, end = call(0)
    assert end == len(tokens), tokens
    return value


def render_go_template(template: str, data: Mapping[str, str]) -> str:
    """The subset of text/template the configs use: `{{ if .x }}...{{ end }}` and
    `{{ pipeline }}`. A missing field makes the whole template fail, as in Go."""
    out = []
    skipping: list[bool] = []
    for literal, action in re.findall(r"([^{]*)(?:\{\{-?\s*(.*?)\s*-?\}\}|$)", template):
        if not any(skipping):
            out.append(literal)
        if not action:
            continue
        tokens = re.findall(r'"(?:[^"\\]|\\.)*"|\(|\)|\.[A-Za-z_][A-Za-z0-9_]*|[^\s()]+', action)
        if tokens[0] == "if":
            skipping.append(not _template_value(tokens[1:], data))
        elif tokens == ["end"]:
            skipping.pop()
        elif not any(skipping):
            out.append(str(_template_value(tokens, data)))
    return "".join(out)


def template_stage(cfg: Mapping[str, Any]) -> Stage:
    def run(entries: list[Entry]) -> list[Entry]:
        for e in entries:
            try:
                value = render_go_template(cfg["template"], {**e.extracted, "Entry": e.line})
            except LookupError:
                continue  # Execute fails: the stage leaves the entry alone
            if value == "":
                e.extracted.pop(cfg["source"], None)
            else:
                e.extracted[cfg["source"]] = value
        return entries

    return run


def _sources(values: Mapping[str, Any]) -> dict[str, str]:
    return {name: (src or name) for name, src in values.items()}


def labels_stage(cfg: Mapping[str, Any]) -> Stage:
    def run(entries: list[Entry]) -> list[Entry]:
        for e in entries:
            for name, src in _sources(cfg["values"]).items():
                if src in e.extracted:
                    e.labels[name] = e.extracted[src]
        return entries

    return run


def structured_metadata_stage(cfg: Mapping[str, Any]) -> Stage:
    def run(entries: list[Entry]) -> list[Entry]:
        for e in entries:
            for name, src in _sources(cfg["values"]).items():
                if src in e.extracted:
                    e.metadata[name] = e.extracted[src]
                if src in e.labels:  # a label named here moves to metadata
                    e.metadata[name] = e.labels.pop(src)
        return entries

    return run


def label_drop_stage(cfg: Mapping[str, Any]) -> Stage:
    def run(entries: list[Entry]) -> list[Entry]:
        for e in entries:
            for name in cfg["values"]:
                e.labels.pop(name, None)
        return entries

    return run


def static_labels_stage(cfg: Mapping[str, Any]) -> Stage:
    def run(entries: list[Entry]) -> list[Entry]:
        for e in entries:
            e.labels.update({k: str(v) for k, v in cfg["values"].items()})
        return entries

    return run


STAGES: dict[str, Callable[[Mapping[str, Any]], Stage]] = {
    "multiline": multiline_stage,
    "regex": regex_stage,
    "timestamp": timestamp_stage,
    "template": template_stage,
    "labels": labels_stage,
    "structured_metadata": structured_metadata_stage,
    "label_drop": label_drop_stage,
    "static_labels": static_labels_stage,
}


@dataclass(frozen=True)
class RelabelRule:
    source_labels: tuple[str, ...]
    regex: str = "(.*)"
    separator: str = ";"
    target_label: str = ""
    replacement: str = "$1"
    action: str = "replace"


def relabel(labels: dict[str, str], rules: Iterable[RelabelRule]) -> dict[str, str] | None:
    """Prometheus relabelling for the actions the configs use; None when dropped."""
    for rule in rules:
        value = rule.separator.join(labels.get(name, "") for name in rule.source_labels)
        m = re.fullmatch(go_regex(rule.regex), value)
        if rule.action == "keep":
            if m is None:
                return None
        elif rule.action == "drop":
            if m is not None:
                return None
        elif rule.action == "replace":
            if m is not None:
                target = _expand_groups(m, rule.target_label)
                result = _expand_groups(m, rule.replacement)
                if result == "":
                    labels.pop(target, None)
                else:
                    labels[target] = result
        else:
            raise NotImplementedError(f"relabel action {rule.action}")
    return labels


def _expand_groups(m: re.Match[str], template: str) -> str:
    """Go's Regexp.Expand for $1 and ${name}."""

    def group(ref: re.Match[str]) -> str:
        name = ref[1] or ref[2]
        return m.group(int(name) if name.isdigit() else name) or ""

    return re.sub(r"\$(\d+)|\$\{(\w+)\}", group, template)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --- What arrives at the pipelines ------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """A runner host: its files (path -> text) and its journal, read at `now`."""

    files: Mapping[str, str]
    journal: list[dict[str, Any]]
    now: str = "2024-05-01T12:00:00.000000Z"


@dataclass
class Shipped:
    entries: list[dict[str, Any]]
    files_read: list[str]


def read_files(
    targets: list[dict[str, str]], machine: Machine, opened: list[str]
) -> list[list[Entry]]:
    """local.file_match + loki.source.file: every matching file, line by line (one
    batch per file, so a file's last entry is flushed before the next file's)."""
    batches = []
    for target in targets:
        matches = sorted(p for p in machine.files if glob_match(target["__path__"], p))
        exclude = target.get("__path_exclude__")
        for path in matches:
            if exclude and glob_match(exclude, path):
                continue
            opened.append(path)
            labels = {k: v for k, v in target.items() if not k.startswith("__")}
            labels["filename"] = path
            text = machine.files[path]
            lines = text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()  # a line is forwarded once it ends with \n
            batches.append([Entry(dict(labels), line, machine.now) for line in lines])
    return batches


def read_journal(
    machine: Machine,
    labels: Mapping[str, str],
    rules: list[RelabelRule],
) -> list[Entry]:
    """loki.source.journal (format_as_json = false): MESSAGE as the line, every field
    as a __journal_<field> label for the relabel rules, which may drop the entry."""
    entries = []
    for record in machine.journal:
        fields = record["fields"]
        line = fields.get("MESSAGE", "")
        if line == "":
            continue  # entries without MESSAGE are skipped
        built = dict(labels)
        for name, value in fields.items():
            if name == "PRIORITY":
                built["__journal_priority_keyword"] = _PRIORITIES.get(value, value)
            built["__journal_" + name.lower()] = value
        kept = relabel(built, rules)
        if kept is None:
            continue
        visible = {k: v for k, v in kept.items() if not k.startswith("__")}
        if not visible:
            continue
        stamp = datetime.fromisoformat(record["realtime"].replace("Z", "+00:00"))
        entries.append(Entry(visible, line, _iso(stamp)))
    return entries


_PRIORITIES = dict(enumerate("emerg alert crit error warning notice info debug".split()))
_PRIORITIES = {str(k): v for k, v in _PRIORITIES.items()}


def _rules(blocks: Iterable[Mapping[str, Any]]) -> list[RelabelRule]:
    return [
        RelabelRule(
            source_labels=tuple(b.get("source_labels", ())),
            regex=b.get("regex", "(.*)"),
            separator=b.get("separator", ";"),
            target_label=b.get("target_label", ""),
            replacement=b.get("replacement", "$1"),
            action=b.get("action", "replace"),
        )
        for b in blocks
    ]


def run_stages(stages: list[Stage], entries: list[Entry]) -> list[Entry]:
    for stage in stages:
        entries = stage(entries)
    return entries


# --- Alloy: the component graph ---------------------------------------------------------


def ship_with_alloy(config: Path, machine: Machine, host: Host) -> Shipped:
    """Every entry config.alloy would push to Loki from `machine`."""
    components = {f"{b.name}.{b.label}": b for b in AlloyParser(config.read_text()).parse()}
    opened: list[str] = []
    sent: list[Entry] = []

    def deliver(receivers: list[Any], entries: list[Entry]) -> None:
        for ref in receivers:
            assert isinstance(ref, Ref) and ref.name.endswith(".receiver"), ref
            target = components[ref.name.removesuffix(".receiver")]
            copies = [
                Entry(dict(e.labels), e.line, e.timestamp, dict(e.extracted), dict(e.metadata))
                for e in entries
            ]
            if target.name == "loki.write":
                sent.extend(copies)
            elif target.name == "loki.process":
                stages = []
                for block in target.blocks:
                    kind = block.name.removeprefix("stage.")
                    if kind not in STAGES:
                        raise NotImplementedError(f"{block.name} in {ref.name}")
                    stages.append(STAGES[kind](evaluate(block.attrs, host)))
                out = run_stages(stages, copies)
                for e in out:
                    e.extracted = {}  # extracted values do not leave a loki.process
                deliver(target.attrs["forward_to"], out)
            else:
                raise NotImplementedError(target.name)

    for key, component in components.items():
        if component.name == "loki.source.file":
            ref = component.attrs["targets"]
            assert isinstance(ref, Ref) and ref.name.endswith(".targets")
            match = components[ref.name.removesuffix(".targets")]
            targets = evaluate(match.attrs["path_targets"], host)
            for batch in read_files(targets, machine, opened):
                deliver(component.attrs["forward_to"], batch)
        elif component.name == "loki.source.journal":
            rules_ref = component.attrs.get("relabel_rules")
            rules: list[RelabelRule] = []
            if rules_ref is not None:
                assert isinstance(rules_ref, Ref) and rules_ref.name.endswith(".rules")
                relabeler = components[rules_ref.name.removesuffix(".rules")]
                rules = _rules(evaluate(r.attrs, host) for r in relabeler.children("rule"))
            labels = {**evaluate(component.attrs.get("labels", {}), host), "job": key}
            deliver(component.attrs["forward_to"], read_journal(machine, labels, rules))
    return Shipped([e.result() for e in sent], opened)


# --- Promtail ---------------------------------------------------------------------------


_PROMTAIL_STAGES = {"labeldrop": "label_drop"}


def expand_env(text: str, env: Mapping[str, str]) -> str:
    """-config.expand-env=true: ${VAR} and ${VAR:-default}."""

    def fill(m: re.Match[str]) -> str:
        value = env.get(m.group(1), "")
        return value if value or m.group(2) is None else m.group(2)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}", fill, text)


def ship_with_promtail(config: Path, machine: Machine, env: Mapping[str, str]) -> Shipped:
    spec = yaml.safe_load(expand_env(config.read_text(encoding="utf-8"), env))
    opened: list[str] = []
    sent: list[Entry] = []
    for job in spec["scrape_configs"]:
        stages = []
        for stage in job.get("pipeline_stages") or []:
            ((kind, cfg),) = stage.items()
            name = _PROMTAIL_STAGES.get(kind, kind)
            if name not in STAGES:
                raise NotImplementedError(f"promtail stage {kind}")
            if name in ("labels", "structured_metadata", "static_labels"):
                cfg = {"values": cfg}
            elif name == "label_drop":
                cfg = {"values": cfg}
            stages.append(STAGES[name](cfg))
        if "journal" in job:
            rules = _rules(job.get("relabel_configs") or [])
            entries = read_journal(machine, job["journal"].get("labels") or {}, rules)
        else:
            targets = [{**group.get("labels", {})} for group in job["static_configs"]]
            for batch in read_files(targets, machine, opened):
                sent += run_stages(stages, batch)
            continue
        sent += run_stages(stages, entries)
    return Shipped([e.result() for e in sent], opened)


# --- The sample machine -----------------------------------------------------------------

_JOURNALCTL = re.compile(
    r"^[A-Z][a-z]{2} [0-9]{2} [0-9:]{8} (?P<host>\S+) "
    r"(?P<ident>[^\s\[:]+)(?:\[(?P<pid>[0-9]+)\])?: (?P<message>.*)$"
)
# Which unit writes a journalctl line, by its syslog identifier.
_UNIT_OF = {
    "runsvc.sh": "actions.runner.acme.runner-01.service",
    "dockerd": "docker.service",
    "chronyd": "chrony.service",
    "systemd-timesyncd": "systemd-timesyncd.service",
    "runnerdoc": "runnerdoc-exporter.service",
}


# The priority journald records: a service's stdout and stderr are both `info` unless
# it says otherwise; chronyd and systemd log warnings; the kernel's OOM kill is `err`.
_PRIORITY_OF = {"kernel": "3", "systemd": "4", "chronyd": "4"}


def journal_record(example: str) -> dict[str, Any]:
    """A journalctl-formatted signature example as the journal entry behind it."""
    m = _JOURNALCTL.match(example)
    if m is None:  # a bare runner message, as runsvc.sh forwards it
        fields = {
            "_SYSTEMD_UNIT": _UNIT_OF["runsvc.sh"],
            "_TRANSPORT": "stdout",
            "MESSAGE": example,
        }
    elif m["ident"] == "kernel":
        fields = {"_TRANSPORT": "kernel", "MESSAGE": m["message"]}
    elif m["ident"] == "systemd":
        unit = m["message"].split(":", 1)[0]
        fields = {
            "_SYSTEMD_UNIT": "init.scope",
            "UNIT": unit,
            "_TRANSPORT": "journal",
            "MESSAGE": m["message"],
        }
    else:
        fields = {
            "_SYSTEMD_UNIT": _UNIT_OF[m["ident"]],
            "_TRANSPORT": "stdout",
            "MESSAGE": m["message"],
        }
    priority = _PRIORITY_OF.get(m["ident"], "6") if m else "6"
    fields.update({"PRIORITY": priority, "_HOSTNAME": m["host"] if m else HOSTNAME})
    return {"realtime": "2024-05-01T10:00:00Z", "fields": fields}


def signature_machine() -> Machine:
    """A host whose logs hold every signature example from the places Alloy reads."""
    runner_log: list[str] = []
    worker_log: list[str] = []
    journal: list[dict[str, Any]] = []
    for sig in load_signatures():
        for example in sig.examples:
            if sig.where == "runner-log":
                runner_log.append(example)
            elif sig.where == "worker-log":
                worker_log.append(example)
            elif sig.where in ("journal", "kernel"):
                journal.append(journal_record(example))
    return Machine(
        files={
            f"{ROOT}/_diag/Runner_20240501-100000-utc.log": "\n".join(runner_log) + "\n",
            f"{ROOT}/_diag/Worker_20240501-100000-utc.log": "\n".join(worker_log) + "\n",
        },
        journal=journal,
    )


def fixture_machine() -> Machine:
    """Realistic logs: stack traces, a log starting mid-entry, CRLF, other units, the
    kernel, and files next to _diag that must never be read."""
    files = {
        f"{ROOT}/_diag/{p.name}": p.read_text(encoding="utf-8") for p in sorted(INPUT.glob("*.log"))
    }
    files.update(
        {
            f"{ROOT}/.credentials": '{"scheme": "OAuth", "data": {"clientId": "secret"}}\n',
            f"{ROOT}/.credentials_rsaparams": '{"d": "secret", "p": "secret"}\n',
            f"{ROOT}/.env": "GITHUB_TOKEN=secret\n",
            # Matches the glob _diag/*.log, so only the exclusion keeps it out.
            f"{ROOT}/_diag/.credentials.log": "secret copied by mistake\n",
            f"{ROOT}/_diag/pages/0c5f1d2e_1.log": "step output, not shipped\n",
        }
    )
    journal = json.loads((INPUT / "journal.json").read_text(encoding="utf-8"))
    return Machine(files=files, journal=journal)


ALLOY_HOST = Host(hostname=HOSTNAME, env={"RUNNERDOC_RUNNER": "runner-01"})


def _golden(name: str, shipped: Shipped) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(shipped.entries, indent=1, ensure_ascii=False) + "\n"
    if os.environ.get("RUNNERDOC_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing: run with RUNNERDOC_UPDATE_GOLDEN=1 once"
    assert json.loads(path.read_text(encoding="utf-8")) == shipped.entries, (
        f"what config.alloy ships differs from {path.relative_to(REPO)}; if the change is "
        "meant, rerun with RUNNERDOC_UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.fixture(scope="module")
def fixtures_shipped() -> Shipped:
    return ship_with_alloy(ALLOY, fixture_machine(), ALLOY_HOST)


@pytest.fixture(scope="module")
def signatures_shipped() -> Shipped:
    return ship_with_alloy(ALLOY, signature_machine(), ALLOY_HOST)


# --- The tests --------------------------------------------------------------------------


def test_alloy_ships_the_realistic_logs_as_the_golden_file_says(fixtures_shipped: Shipped) -> None:
    _golden("fixtures", fixtures_shipped)


def test_alloy_ships_the_signature_examples_as_the_golden_file_says(
    signatures_shipped: Shipped,
) -> None:
    _golden("signatures", signatures_shipped)


def test_promtail_ships_exactly_what_alloy_ships() -> None:
    for machine in (fixture_machine(), signature_machine()):
        alloy = ship_with_alloy(ALLOY, machine, ALLOY_HOST)
        promtail = ship_with_promtail(PROMTAIL, machine, ENV)
        assert promtail.entries == alloy.entries
        assert promtail.files_read == alloy.files_read


def test_promtail_is_marked_legacy() -> None:
    head = PROMTAIL.read_text(encoding="utf-8").splitlines()[0]
    assert head.startswith("# LEGACY:") and "end of life" in head


def test_only_low_cardinality_labels(
    fixtures_shipped: Shipped, signatures_shipped: Shipped
) -> None:
    entries = fixtures_shipped.entries + signatures_shipped.entries
    for e in entries:
        labels = e["labels"]
        assert set(labels) <= LABELS, labels
        assert labels["job"] == "actions-runner"
        assert (labels["host"], labels["runner"]) == (HOSTNAME, "runner-01")
        assert labels["source"] in ("journal", "runner", "worker")
        assert labels.get("level", "info") in ("info", "warn", "err", "verbose")
        assert "component" not in labels and "filename" not in labels
    streams = {tuple(sorted(e["labels"].items())) for e in entries}
    assert len(streams) <= 12  # a handful of streams per runner, whatever it logs


def test_runner_log_entries_are_joined_and_take_level_component_and_time(
    fixtures_shipped: Shipped,
) -> None:
    diag = [e for e in fixtures_shipped.entries if e["labels"]["source"] == "runner"]
    trace = next(e for e in diag if "HttpRequestException" in e["line"])
    assert trace["line"].count("\n") == 5  # the stack trace stays with its entry
    assert trace["line"].endswith(
        "at GitHub.Runner.Listener.MessageListener.CreateSessionAsync(CancellationToken token)"
    )
    assert trace["labels"]["level"] == "err"
    assert trace["structured_metadata"] == {"component": "MessageListener"}
    assert trace["timestamp"] == "2024-05-01T09:30:05.000000Z"
    levels = [e["labels"]["level"] for e in diag]
    assert set(levels) == {"info", "err", "warn", "verbose"}
    assert all("\r" not in e["line"] for e in diag)
    assert len(diag) == 10  # 15 lines, 5 of them continuation lines


def test_a_log_that_starts_mid_entry_keeps_its_first_line(fixtures_shipped: Shipped) -> None:
    worker = [e for e in fixtures_shipped.entries if e["labels"]["source"] == "worker"]
    first = worker[0]
    assert first["line"].startswith("   at GitHub.Runner.Worker.Worker.RunAsync")
    assert "level" not in first["labels"] and first["structured_metadata"] == {}
    assert first["timestamp"] == "2024-05-01T12:00:00.000000Z"  # read time
    disk = next(e for e in worker if "No space left on device" in e["line"])
    assert disk["labels"]["level"] == "err" and disk["line"].count("\n") == 2


def test_credentials_are_never_read(fixtures_shipped: Shipped) -> None:
    assert fixtures_shipped.files_read == [
        f"{ROOT}/_diag/Runner_20240501-093000-utc.log",
        f"{ROOT}/_diag/Worker_20240501-100500-utc.log",
    ]
    assert not any("secret" in e["line"] for e in fixtures_shipped.entries)
    # Every file target excludes the credentials, so no glob can ever bring them in.
    components = AlloyParser(ALLOY.read_text()).parse()
    targets = evaluate(
        next(b for b in components if b.name == "local.file_match").attrs["path_targets"],
        ALLOY_HOST,
    )
    for target in targets:
        for secret in (".credentials", ".credentials_rsaparams", ".env", "_diag/.credentials"):
            assert glob_match(target["__path_exclude__"], f"{ROOT}/{secret}")


def test_runner_root_comes_from_the_environment() -> None:
    machine = Machine(
        files={"/opt/runner/_diag/Runner_1.log": "[2024-05-01 10:00:00Z INFO X] hello\n"},
        journal=[],
    )
    host = Host(HOSTNAME, {"RUNNERDOC_RUNNER_ROOT": "/opt/runner"})
    shipped = ship_with_alloy(ALLOY, machine, host)
    assert [e["line"] for e in shipped.entries] == ["[2024-05-01 10:00:00Z INFO X] hello"]
    assert shipped.entries[0]["labels"]["runner"] == HOSTNAME  # no RUNNERDOC_RUNNER
    promtail = ship_with_promtail(
        PROMTAIL, machine, {**ENV, "RUNNERDOC_RUNNER_ROOT": "/opt/runner"}
    )
    assert [e["line"] for e in promtail.entries] == ["[2024-05-01 10:00:00Z INFO X] hello"]


def test_journal_keeps_the_runner_docker_clock_and_oom_lines(fixtures_shipped: Shipped) -> None:
    journal = [e for e in fixtures_shipped.entries if e["labels"]["source"] == "journal"]
    lines = [e["line"] for e in journal]
    assert "2024-05-01 09:59:58Z: Listening for Jobs" in lines
    assert any(line.startswith("Runner.Worker invoked oom-killer") for line in lines)
    assert any(line.startswith("oom-kill:constraint") for line in lines)
    assert "docker.service: Failed with result 'exit-code'." in lines  # systemd about docker
    assert not any("usb 1-1" in line or "sshd" in line or "cron" in line for line in lines)
    assert not any("Accepted publickey" in line for line in lines)
    by_line = {e["line"]: e for e in journal}
    assert by_line["Runner listener exited with error code 1"]["labels"]["level"] == "err"
    assert by_line["Selected source 192.0.2.1 (ntp.example.com)"]["labels"]["level"] == "verbose"
    assert by_line["2024-05-01 09:59:58Z: Listening for Jobs"]["timestamp"] == (
        "2024-05-01T09:59:58.120000Z"
    )
    assert len(journal) == 7


def test_every_shipped_signature_still_matches_what_loki_stores(
    signatures_shipped: Shipped,
) -> None:
    """Diagnosis and the LogQL templates match lines as Loki holds them: each runner,
    worker, kernel and runner-host journal example must arrive, still matching."""
    lines = [e["line"] for e in signatures_shipped.entries]
    checked = 0
    for sig in load_signatures():
        if sig.where not in ("runner-log", "worker-log", "journal", "kernel"):
            continue
        for example in sig.examples:
            record = journal_record(example) if sig.where in ("journal", "kernel") else None
            if record and record["fields"].get("_SYSTEMD_UNIT") == "runnerdoc-exporter.service":
                continue  # the exporter runs on a monitoring host, not a runner host
            if record and record["fields"].get("UNIT") == "runnerdoc-exporter.service":
                continue
            assert any(sig.matches(line) for line in lines), (sig.id, example)
            checked += 1
    assert checked >= 35
    kernel = [e for e in signatures_shipped.entries if "Killed process" in e["line"]]
    assert len(kernel) == 2 and all(e["labels"]["source"] == "journal" for e in kernel)


def test_the_evaluator_reads_the_config_not_a_copy(tmp_path: Path) -> None:
    """Changing a stage in config.alloy changes what the evaluator ships."""
    text = ALLOY.read_text(encoding="utf-8")
    changed = tmp_path / "config.alloy"
    changed.write_text(text.replace('"verb" "verbose"', '"verb" "debug"'), encoding="utf-8")
    before = ship_with_alloy(ALLOY, fixture_machine(), ALLOY_HOST).entries
    after = ship_with_alloy(changed, fixture_machine(), ALLOY_HOST).entries
    assert before != after
    assert {e["labels"].get("level") for e in after} >= {"debug"}


def test_glob_semantics() -> None:
    assert glob_match("/a/**/{.credentials*,.env}", "/a/.credentials")
    assert glob_match("/a/**/{.credentials*,.env}", "/a/b/c/.env")
    assert not glob_match("/a/**/{.credentials*,.env}", "/a/b/.envrc")
    assert glob_match("/a/_diag/*.log", "/a/_diag/Runner_1.log")
    assert not glob_match("/a/_diag/*.log", "/a/_diag/pages/x.log")


def test_go_template_subset() -> None:
    template = '{{ if .level }}{{ Replace (ToLower .level) "verb" "verbose" -1 }}{{ end }}'
    assert render_go_template(template, {"level": "VERB"}) == "verbose"
    assert render_go_template(template, {"level": "ERR"}) == "err"
    assert render_go_template(template, {}) == ""
