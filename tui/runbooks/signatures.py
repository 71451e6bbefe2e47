"""Known runner log lines (`docs/runbooks/signatures.yaml`) and matching log text against them.

Each signature names the runbook and step that answer it. Patterns match the
stable core of a line, so timestamps, prefixes and wording drift between runner
versions do not matter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tui.content import ROOT
from tui.runbooks.problems import ContentError, Problem, display_path

SIGNATURES_FILE = ROOT / "docs" / "runbooks" / "signatures.yaml"
WHERE = ("journal", "runner-log", "worker-log", "job-log", "config", "kernel")
FIELDS = (
    "id",
    "title",
    "pattern",
    "where",
    "severity",
    "confidence",
    "runbook",
    "step",
    "examples",
)
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Signature:
    id: str
    title: str
    pattern: re.Pattern[str]
    where: str
    severity: str
    confidence: float
    runbook: str
    step: str
    examples: tuple[str, ...]
    line: int

    def matches(self, line: str) -> bool:
        return self.pattern.search(line) is not None


@dataclass(frozen=True)
class LogMatch:
    """One log line that matched a signature."""

    signature: Signature
    line: str
    line_number: int
    source: str  # where the line came from: a file name, "journal", ...


def read_signatures(path: Path | None = None) -> tuple[list[Signature], list[Problem]]:
    """Read and check the signature file, returning what is usable and every problem."""
    path = SIGNATURES_FILE if path is None else Path(path)
    shown = display_path(path)
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except OSError as e:
        return [], [Problem(shown, 1, f"cannot read signatures: {e}")]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        return [], [Problem(shown, (mark.line + 1) if mark else 1, f"not valid YAML: {e}")]
    if not isinstance(data, dict) or not isinstance(data.get("signatures"), list):
        return [], [Problem(shown, 1, "the file must hold a top-level 'signatures:' list")]

    items_node = next(v for k, v in node.value if k.value == "signatures")
    signatures: list[Signature] = []
    seen: dict[str, int] = {}
    for raw, item_node in zip(data["signatures"], items_node.value, strict=True):
        line = item_node.start_mark.line + 1
        key_lines = {}
        if isinstance(item_node, yaml.MappingNode):
            key_lines = {k.value: k.start_mark.line + 1 for k, _ in item_node.value}

        def bad(key: str | None, message: str, _line: int = line, _kl: Any = key_lines) -> None:
            problems.append(Problem(shown, _kl.get(key, _line) if key else _line, message))

        if not isinstance(raw, dict):
            bad(None, "a signature must be a mapping")
            continue
        sid = raw.get("id")
        label = f"signature {sid}" if sid else "signature"
        for key in FIELDS:
            if key not in raw:
                bad(None, f"{label}: missing field {key!r}")
        for key in raw:
            if key not in FIELDS:
                bad(key, f"{label}: unknown field {key!r}")
        if not isinstance(sid, str) or not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", sid):
            bad("id", f"{label}: id must be kebab-case")
            continue
        if sid in seen:
            bad("id", f"{label}: id is used twice (first on line {seen[sid]})")
            continue
        seen[sid] = line
        try:
            pattern = re.compile(str(raw.get("pattern", "")))
        except re.error as e:
            bad("pattern", f"{label}: pattern does not compile: {e}")
            continue
        if not raw.get("pattern"):
            continue
        if raw.get("where") not in WHERE:
            bad("where", f"{label}: where must be one of {', '.join(WHERE)}")
        if raw.get("severity") not in SEVERITIES:
            bad("severity", f"{label}: severity must be one of {', '.join(SEVERITIES)}")
        confidence = raw.get("confidence")
        if not isinstance(confidence, int | float) or not 0 < confidence <= 1:
            bad("confidence", f"{label}: confidence must be a number in (0, 1]")
            confidence = 0.5
        examples = raw.get("examples")
        if not isinstance(examples, list) or not examples:
            bad("examples", f"{label}: give at least one example line as a real log writes it")
            examples = []
        for ex in examples:
            if not isinstance(ex, str) or not pattern.search(ex):
                bad("examples", f"{label}: example does not match the pattern: {ex!r}")
        signatures.append(
            Signature(
                id=sid,
                title=str(raw.get("title", sid)),
                pattern=pattern,
                where=str(raw.get("where")),
                severity=str(raw.get("severity")),
                confidence=float(confidence),
                runbook=str(raw.get("runbook", "")),
                step=str(raw.get("step", "")),
                examples=tuple(str(e) for e in examples),
                line=line,
            )
        )
    return signatures, problems


def load_signatures(path: Path | None = None) -> list[Signature]:
    """The signatures, or ContentError listing every problem in the file."""
    signatures, problems = read_signatures(path)
    if problems:
        raise ContentError(problems)
    return signatures


def match_lines(
    lines: Iterable[str], signatures: list[Signature], source: str = "log"
) -> list[LogMatch]:
    """Every (line, signature) match, in line order."""
    found: list[LogMatch] = []
    for number, line in enumerate(lines, start=1):
        for sig in signatures:
            if sig.matches(line):
                found.append(LogMatch(sig, line.rstrip("\n"), number, source))
    return found
