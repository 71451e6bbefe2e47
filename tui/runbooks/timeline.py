"""An incident timeline in Markdown, from a run's journal, for the postmortem.

Built from the journal alone (not from memory), so it says exactly what ran,
when, with what result, including across a crash and a resume.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from tui.text import one_line, safe_text

OUTPUT_LINES = 12  # lines of each step's output quoted in the timeline


def _clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at)) if at else "--:--:--"


def _cell(text: str) -> str:
    return one_line(text, limit=300).replace("|", "\\|").replace("`", "'")


def timeline_markdown(records: Iterable[dict[str, Any]]) -> str:
    records = list(records)
    start = next((r for r in records if r.get("type") == "run-start"), {})
    end = [r for r in records if r.get("type") == "run-end"]
    day = time.strftime("%Y-%m-%d", time.gmtime(start.get("at", 0)))
    lines = [
        f"# Incident timeline: {one_line(str(start.get('runbook', '?')))} on "
        f"{one_line(str(start.get('runner', '?')))}",
        "",
        f"- Run: `{one_line(str(start.get('run_id', '?')))}`, {day} (times in UTC)",
        f"- Operator: {one_line(str(start.get('operator', '?')))}",
    ]
    if start.get("dry_run"):
        lines.append("- Dry run: nothing was executed")
    if end:
        outcome = "succeeded" if end[-1].get("ok") else f"failed: {end[-1].get('reason')}"
        lines.append(f"- Outcome: {one_line(outcome)} at {_clock(end[-1].get('at'))}")
    else:
        lines.append("- Outcome: not finished (resume with `runnerdoc runbook resume`)")
    lines += ["", "| Time | Step | Kind | Result | Exit | Checks |", "|---|---|---|---|---|---|"]
    details: list[str] = []
    for r in records:
        kind = r.get("type")
        if kind == "step-end":
            checks = "; ".join(r.get("checks") or [])
            lines.append(
                f"| {_clock(r.get('at'))} | `{_cell(str(r.get('step')))}` | {r.get('kind', '')}"
                f" | {r.get('state')} | {r.get('exit_status', '')} | {_cell(checks)} |"
            )
            if r.get("command"):
                out = safe_text(str(r.get("output", "")), keep_newlines=True).rstrip("\n")
                tail = "\n".join(out.splitlines()[-OUTPUT_LINES:])
                details += [
                    f"### {_clock(r.get('at'))} {one_line(str(r.get('step')))} ({r.get('state')})",
                    "",
                    "```bash",
                    safe_text(str(r["command"]), keep_newlines=True),
                    "```",
                    "",
                ]
                if tail:
                    details += ["```text", tail, "```", ""]
        elif kind in ("run-resume", "retry"):
            what = "resumed" if kind == "run-resume" else f"retried {r.get('step')}"
            lines.append(
                f"| {_clock(r.get('at'))} | – | – | {what} by {_cell(str(r.get('operator')))} | | |"
            )
    return "\n".join([*lines, "", "## Commands and output", "", *details]).rstrip() + "\n"
