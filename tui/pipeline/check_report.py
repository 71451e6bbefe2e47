"""How `runnerdoc check` reports: a table for the job log, JSON for scripts, and Markdown for
the job summary page ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tui.pipeline.health_check import EXIT_CODES, CheckResult, CheckStatus, overall
from tui.text import one_line

MARK = {
    CheckStatus.OK: "✅",
    CheckStatus.WARNING: "⚠️",
    CheckStatus.CRITICAL: "❌",
    CheckStatus.UNKNOWN: "❔",
}


def as_table(results: Sequence[CheckResult]) -> str:
    rows = [("CHECK", "TARGET", "STATUS", "DETAIL")]
    rows += [
        (r.check, one_line(r.target, limit=48), r.status.value.upper(), one_line(r.summary))
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]])
        for row in rows
    ]
    verdict = overall(results)
    lines.append(f"runner health: {verdict.value.upper()} (exit {EXIT_CODES[verdict]})")
    return "\n".join(lines)


def as_json(results: Sequence[CheckResult]) -> dict[str, Any]:
    verdict = overall(results)
    return {
        "status": verdict.value,
        "exit_code": EXIT_CODES[verdict],
        "checks": [
            {
                "check": r.check,
                "target": r.target,
                "status": r.status.value,
                "summary": r.summary,
                "value": r.value,
                "unit": r.unit,
            }
            for r in results
        ],
    }


def _cell(text: str) -> str:
    # A pipe would end the cell early; angle brackets could open HTML on the summary page.
    return (
        one_line(text, limit=300)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
    )


def as_markdown(results: Sequence[CheckResult], runner: str | None = None) -> str:
    """The job summary section: verdict first, then every check."""
    verdict = overall(results)
    where = f" on `{_cell(runner)}`" if runner else ""
    lines = [
        f"### {MARK[verdict]} Runner health{where}: {verdict.value}",
        "",
        "| | Check | Target | Detail |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {MARK[r.status]} | {r.check} | {_cell(r.target)} | {_cell(r.summary)} |"
        for r in results
    ]
    return "\n".join(lines) + "\n\n"
