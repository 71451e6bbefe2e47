"""Evidence -> ranked findings: which runbook (and step) most likely fixes this runner.

Pure: it reads evidence gathered elsewhere (GitHub state, metric values, firing
alerts, log lines) and the rules that live in the runbooks' front matter and in
signatures.yaml, so the site shows exactly what is matched here. Pieces of
evidence for the same runbook combine like independent witnesses
(1 - product of (1 - confidence)), so two weak signals beat one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tui.model import Alert, Finding, RunnerState
from tui.runbooks.runbook import Runbook
from tui.runbooks.signatures import LogMatch, Signature, match_lines
from tui.text import one_line

# How much one kind of evidence alone says about the cause.
GITHUB_STATE_CONFIDENCE = 0.25  # "offline" fits many causes
METRIC_CONFIDENCE = 0.6
ALERT_CONFIDENCE = 0.7
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}
# A line like these means the runner worked again after whatever came before it, so
# older error lines in the same log say little about what is wrong now.
RECOVERED = re.compile(r"Listening for Jobs|Runner reconnected\.|completed with result: Succeeded")
STALE_FACTOR = 0.25
# The time a log line carries near its start: `[2024-05-01 10:00:00Z INFO Worker]` in
# _diag, `2024-05-01T10:00:00+0000 host unit[1]:` from `journalctl -o short-iso`, and the
# runner's own `2024-05-01 10:00:00Z: Listening for Jobs` after a `-o short` prefix. Lines
# of one host share its clock, so comparing them holds even when that clock is wrong.
STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?")
STAMP_WITHIN = 64  # characters: a date further in is part of the message, not its time


@dataclass(frozen=True)
class LogSource:
    """Lines read from one place: the journal, a _diag file, Loki, a saved file."""

    name: str
    lines: Sequence[str]


@dataclass
class Evidence:
    runner: str
    state: RunnerState | None = None  # from GitHub; None when unknown
    # (query id, frozen params) -> this runner's value; see metric_key()
    metrics: Mapping[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)
    alerts: Sequence[Alert] = ()
    logs: Sequence[LogSource] = ()
    notes: list[str] = field(default_factory=list)  # what could not be read, for the report


def metric_key(query: str, params: Mapping[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return query, tuple(sorted(params.items()))


@dataclass
class _Case:
    runbook: Runbook
    confidences: list[float] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    step: str | None = None
    step_confidence: float = 0.0
    cause: str | None = None

    def add(self, confidence: float, line: str, *, step: str | None = None,
            cause: str | None = None) -> None:  # fmt: skip
        self.confidences.append(confidence)
        if line not in self.evidence:
            self.evidence.append(line)
        if step is not None and confidence > self.step_confidence:
            self.step, self.step_confidence = step, confidence
            self.cause = cause or self.cause

    @property
    def confidence(self) -> float:
        miss = 1.0
        for c in self.confidences:
            miss *= 1.0 - c
        return 1.0 - miss


def diagnose(
    evidence: Evidence, runbooks: Mapping[str, Runbook], signatures: Sequence[Signature]
) -> list[Finding]:
    """Findings, most likely first. Empty when nothing points anywhere."""
    cases: dict[str, _Case] = {}

    def case(runbook_id: str) -> _Case | None:
        book = runbooks.get(runbook_id)
        if book is None:
            return None
        return cases.setdefault(runbook_id, _Case(book))

    for book in runbooks.values():
        for rule in book.detection:
            if rule.source == "github" and evidence.state is not None:
                if rule.state == evidence.state.value:
                    c = case(book.id)
                    assert c is not None
                    c.add(GITHUB_STATE_CONFIDENCE, f"GitHub shows the runner {rule.state}")
            elif rule.source == "metric" and rule.query is not None:
                value = evidence.metrics.get(metric_key(rule.query, rule.params))
                if value is not None and rule.holds(value):
                    c = case(book.id)
                    assert c is not None
                    what = rule.description or rule.query
                    c.add(
                        METRIC_CONFIDENCE,
                        f"{what}: {rule.query} = {value:.3g} ({rule.op} {rule.threshold:g})",
                    )

    by_alert = {a: b.id for b in runbooks.values() for a in b.alerts}
    for alert in evidence.alerts:
        target = alert.runbook_id if alert.runbook_id in runbooks else by_alert.get(alert.name)
        c = case(target) if target else None
        if c is not None:
            c.add(ALERT_CONFIDENCE, f"alert {alert.name} firing: {alert.summary or alert.severity}")

    # The runner worked again after an error when, later in the same log or at a later
    # time in any log of the host, it listened for jobs or finished one: a Worker log's
    # Docker error from before the last good job is history, not the cause.
    recovered_when = max(
        (
            t
            for source in evidence.logs
            for line in source.lines
            if RECOVERED.search(line) and (t := line_time(line)) is not None
        ),
        default=None,
    )
    for source in evidence.logs:
        recovered_at = max(
            (n for n, line in enumerate(source.lines, start=1) if RECOVERED.search(line)),
            default=0,
        )
        for m in match_lines(source.lines, list(signatures), source.name):
            c = case(m.signature.runbook)
            if c is None:
                continue
            when = line_time(m.line)
            stale = m.line_number < recovered_at or (
                when is not None and recovered_when is not None and when < recovered_when
            )
            c.add(
                m.signature.confidence * (STALE_FACTOR if stale else 1.0),
                # First, where a narrow screen cuts the line: "this was before it recovered".
                ("before it recovered: " if stale else "")
                + f"{m.source}:{m.line_number}: {one_line(m.line, limit=240)}",
                step=None if stale else m.signature.step,
                cause=m.signature.title,
            )

    findings = [
        Finding(
            cause=c.cause or c.runbook.title,
            runbook=c.runbook.id,
            confidence=round(c.confidence, 3),
            evidence=tuple(c.evidence[:12]),
            severity=c.runbook.severity,
            step=c.step,
        )
        for c in cases.values()
    ]
    findings.sort(key=lambda f: (-f.confidence, SEVERITY_RANK.get(f.severity, 3), f.runbook))
    return findings


def line_time(line: str) -> float | None:
    """Seconds since the epoch a log line starts with, or None when it has no time."""
    found = STAMP.search(line, 0, STAMP_WITHIN)
    if found is None:
        return None
    day, clock, zone = found.groups()
    try:  # a time without a zone is UTC, as the runner writes it
        return datetime.fromisoformat(f"{day}T{clock}{zone or 'Z'}").timestamp()
    except ValueError:
        return None


def classify_log(
    lines: Iterable[str],
    runbooks: Mapping[str, Runbook],
    signatures: Sequence[Signature],
    source: str = "log",
) -> list[Finding]:
    """Findings from a saved log alone (`runnerdoc diagnose --log-file`)."""
    return diagnose(
        Evidence(runner="", logs=[LogSource(source, list(lines))]), runbooks, signatures
    )


def matches(lines: Iterable[str], signatures: Sequence[Signature]) -> list[LogMatch]:
    return match_lines(lines, list(signatures))
