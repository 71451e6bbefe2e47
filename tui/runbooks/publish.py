"""Markdown generated from runbooks and signatures, for the site and the TUI alike.

The site's build hook and the TUI's runbook browser both call these, so what a
page says about its log signatures, steps and quick reference is the same
everywhere and cannot drift from the sources.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from tui.runbooks.runbook import Runbook, Step
from tui.runbooks.signatures import Signature

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
WHERE_TEXT = {
    "journal": "service journal",
    "runner-log": "_diag/Runner_*.log",
    "worker-log": "_diag/Worker_*.log",
    "job-log": "job log",
    "config": "config.sh output",
    "kernel": "kernel log",
}


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return html.escape(" ".join(text.split())).replace("|", "&#124;")


def _code_cell(text: str) -> str:
    return "<code>" + _cell(text) + "</code>"


def signature_table(signatures: Iterable[Signature], *, link_steps: bool = True) -> str:
    """A table of log lines: the stable text matched, where it appears, the step that answers."""
    rows = [
        "| Log line (matched text) | Where | Severity | Answered by |",
        "|---|---|---|---|",
    ]
    for sig in signatures:
        step = f"[`{sig.step}`](#{sig.step})" if link_steps else f"`{sig.step}`"
        rows.append(
            f"| {_code_cell(sig.pattern.pattern)}<br><small>{_cell(sig.title)}</small> "
            f"| {WHERE_TEXT.get(sig.where, sig.where)} | {sig.severity} | {step} |"
        )
    return "\n".join(rows) + "\n"


def step_meta(step: Step) -> str:
    """One line of HTML under a step heading: its kind, where it runs, what it asks."""
    parts = [f'<span class="rd-kind rd-kind-{step.kind}">{step.kind}</span>']
    parts.append("on the runner host" if step.target == "runner" else "on your machine")
    if step.destructive:
        parts.append('<span class="rd-destructive">destructive</span>')
    if step.confirm:
        parts.append("asks before running")
    parts.append(f"timeout {step.timeout} s")
    parts.append(f"step <code>{html.escape(step.name)}</code>")
    return f'<p class="rd-step-meta" id="{html.escape(step.name)}">' + " · ".join(parts) + "</p>"


def runbook_page(
    markdown: str,
    runbook: Runbook,
    signatures: Iterable[Signature],
    alerts: Iterable[Any] = (),
) -> str:
    """The runbook page as the site shows it: the alerts that link here, step badges, and
    its log signatures appended. `alerts` are the alert rules whose runbook_url is this page.
    """
    lines = markdown.split("\n")
    alerts = list(alerts)
    if alerts:
        from tui.monitoring_pages import alert_anchor

        listed = ", ".join(
            f"[`{a.name}`](../reference/alerts.md#{alert_anchor(a.name)}) ({a.severity})"
            for a in alerts
        )
        title_at = next((i for i, ln in enumerate(lines) if ln.startswith("# ")), -1)
        lines[title_at + 1 : title_at + 1] = ["", f"**Alerts that link here:** {listed}"]
    # Front matter is already stripped by MkDocs; headings are found by their text.
    by_title = {s.title: s for s in runbook.steps}
    out: list[str] = []
    for line in lines:
        out.append(line)
        if line.startswith("### "):
            step = by_title.get(line[4:].strip())
            if step is not None:
                out.extend(["", step_meta(step), ""])
    mine = [s for s in signatures if s.runbook == runbook.id]
    out.append("")
    if mine:
        out.append(signature_sections(mine))
    else:
        out.append("*No log signature points to this runbook yet.*\n")
    return "\n".join(out)


def matched_text(sig: Signature) -> str:
    """The part of the first example the pattern matches: the message as people see it."""
    for example in sig.examples:
        m = sig.pattern.search(example)
        if m and m.group(0).strip():
            return " ".join(m.group(0).split())
    return sig.title


def signature_sections(signatures: Iterable[Signature]) -> str:
    """One small section per log line, headed by the message itself.

    Search ranks heading text far above body text, so someone who pastes a log
    line into the site's search lands here, on the runbook that answers it.
    """
    out: list[str] = []
    for sig in signatures:
        heading = matched_text(sig)
        if len(heading) > 90:
            heading = heading[:89] + "…"
        out.append(f"#### {_heading_text(heading)} {{ #sig-{sig.id} }}\n")
        out.append(
            f"{_cell(sig.title)} · {WHERE_TEXT.get(sig.where, sig.where)} · {sig.severity}"
            f" · answered by step [`{sig.step}`](#{sig.step})\n"
        )
        out.append("```text\n" + "\n".join(sig.examples) + "\n```\n")
    return "\n".join(out)


def _heading_text(text: str) -> str:
    # Markdown would read these as emphasis, code or attribute-list syntax in a heading.
    for ch in "\\`*_{}[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return text


def runbook_index(runbooks: Mapping[str, Runbook]) -> str:
    rows = [
        "| Runbook | Severity | Time to fix | Answers alerts |",
        "|---|---|---|---|",
    ]
    for r in sorted(runbooks.values(), key=lambda r: (SEVERITY_ORDER[r.severity], r.title)):
        alerts = ", ".join(f"`{a}`" for a in r.alerts) or "–"
        rows.append(
            f"| [{_cell(r.title)}]({r.id}.md)<br><small>{_cell(r.summary)}</small> "
            f"| {r.severity} | {r.time_to_remediate} | {alerts} |"
        )
    return "\n".join(rows) + "\n"


def quick_reference(runbooks: Mapping[str, Runbook], link_prefix: str = "runbooks/") -> str:
    """Symptom -> first check -> fix for every runbook, most severe first."""
    out: list[str] = []
    for r in sorted(runbooks.values(), key=lambda r: (SEVERITY_ORDER[r.severity], r.title)):
        check = r.step(r.quick_reference["first_check"])
        fix = r.step(r.quick_reference["fix"])
        out.append(
            f'<div class="rd-qr" markdown>\n\n'
            f"**[{_cell(r.title)}]({link_prefix}{r.id}.md)** "
            f"<small>{r.severity} · {r.time_to_remediate}</small>  \n"
            f"*{_cell(r.symptom)}*\n\n"
            f"{_qr_command('Check', check)}\n"
            f"{_qr_command('Fix', fix)}\n\n"
            f"</div>\n"
        )
    return "\n".join(out)


def _qr_command(label: str, step: Step) -> str:
    warn = " ⚠ destructive" if step.destructive else ""
    return (
        f"<small>{label}: {_cell(step.title)}{warn}</small>\n\n"
        f"```{step.language or 'bash'}\n{step.command}\n```\n"
    )


def escalation_list(runbooks: Mapping[str, Runbook], link_prefix: str = "runbooks/") -> str:
    lines = []
    for r in sorted(runbooks.values(), key=lambda r: (SEVERITY_ORDER[r.severity], r.title)):
        lines.append(f"- **[{_cell(r.title)}]({link_prefix}{r.id}.md)**: {_cell(r.escalation)}")
    return "\n".join(lines) + "\n"
