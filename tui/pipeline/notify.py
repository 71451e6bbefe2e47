"""`runnerdoc notify deployment-failure|deployment-recovered`: tell people a deployment broke or
recovered, on the incident's GitHub issue and in Slack, without ever changing the job's result.

Slack dedupe: a message goes out only when the issue action was news (opened, commented,
closed). When GitHub cannot be asked (no token, --no-issue, API down) Slack is posted anyway:
an alert twice beats none.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tui.model import Finding
from tui.pipeline.deployment import FAILURE_LABEL, DeploymentRun
from tui.pipeline.incident import IncidentOutcome, IssueAction, record_failure, record_recovery
from tui.pipeline.slack import SlackError, SlackMessage, SlackWebhook, escape, link
from tui.sources.github import GitHubClient, GitHubError
from tui.text import one_line, safe_text

FAILURE, RECOVERED = "failure", "recovered"
LOG_TAIL_BYTES = 512 * 1024
# Variables whose values a log excerpt must never carry onward.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|WEBHOOK|API_KEY|PRIVATE_KEY", re.I)


@dataclass(frozen=True)
class LogEvidence:
    """What the failed job's log says: its last lines and the likely causes."""

    name: str
    excerpt: tuple[str, ...]
    findings: tuple[Finding, ...]


def read_log(
    path: Path, lines: int, env: Mapping[str, str], classify: Callable[..., list[Finding]]
) -> LogEvidence:
    """The log's tail, scrubbed of secret-looking variables' values, and its findings."""
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - LOG_TAIL_BYTES))
        text = f.read().decode("utf-8", errors="replace")
    secrets = sorted(
        (v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= 8), key=len, reverse=True
    )
    for value in secrets:
        text = text.replace(value, "***")
    all_lines = text.splitlines()
    findings = classify(all_lines, source=path.name)
    tail = tuple(safe_text(line, limit=300) for line in all_lines[-lines:]) if lines else ()
    return LogEvidence(path.name, tail, tuple(findings))


def _code(value: str) -> str:
    # Inline code: no @mention pings, no Markdown; backticks would end it early.
    return "`" + one_line(value, limit=200).replace("`", "'") + "`"


def _fence(lines: Sequence[str]) -> str:
    text = "\n".join(lines)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _runbook_ref(runbook: str, base_url: str | None) -> str:
    if base_url:
        return f"[{runbook}]({base_url.rstrip('/')}/runbooks/{runbook}.html)"
    return f"`{runbook}` (`runnerdoc runbook show {runbook}`)"


def issue_text(
    kind: str,
    run: DeploymentRun,
    evidence: LogEvidence | None,
    exit_status: int | None,
    runbook_url: str | None,
) -> str:
    """The Markdown of the issue body (after the markers) or of a comment."""
    what = "failed" if kind == FAILURE else "recovered"
    rows = [
        ("Workflow", run.workflow),
        ("Job", run.job),
        ("Step", run.step),
        ("Environment", run.environment),
        ("Commit", run.short_sha),
        ("Ref", run.ref),
        ("Triggered by", run.actor),
        ("Exit status", None if exit_status is None else str(exit_status)),
    ]
    out = [
        f"**Deployment to {_code(run.environment)} {what}** in "
        f"[run {run.run_id} (attempt {run.run_attempt})]({run.run_url}).",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {_code(v)} |" for k, v in rows if v),
    ]
    if evidence and evidence.findings:
        out += ["", "**Likely cause, from the job's log:**", ""]
        for f in evidence.findings[:3]:
            out.append(
                f"- {one_line(f.cause)}: runbook {_runbook_ref(f.runbook, runbook_url)}, "
                f"confidence {f.confidence:.2f}"
            )
            out += [f"  - {_code(line)}" for line in f.evidence[:3]]
    if evidence and evidence.excerpt:
        out += [
            "",
            f"<details><summary>Last {len(evidence.excerpt)} lines of "
            f"{_code(evidence.name)}</summary>",
            "",
            _fence(evidence.excerpt),
            "",
            "</details>",
        ]
    if kind == FAILURE:
        out += [
            "",
            "Repeat failures of this pipeline are added here as comments; the next successful "
            "deployment closes the issue (`runnerdoc notify deployment-recovered`).",
        ]
    return "\n".join(out)


def issue_title(run: DeploymentRun) -> str:
    return one_line(f"Deployment to {run.environment} failing: {run.workflow}", limit=200)


def slack_message(
    kind: str,
    run: DeploymentRun,
    evidence: LogEvidence | None,
    exit_status: int | None,
    outcome: IncidentOutcome | None,
    runbook_url: str | None,
    excerpt_lines: int = 15,
) -> SlackMessage:
    failed = kind == FAILURE
    headline = (
        f"Deployment to {run.environment} failed" if failed else
        f"Deployment to {run.environment} recovered"
    )  # fmt: skip
    icon = ":red_circle:" if failed else ":large_green_circle:"
    message = SlackMessage(text=f"{headline}: {run.repository} {run.workflow} (run {run.run_id})")
    message.header(f"{headline}: {run.repository}")
    message.section(
        f"{icon} *{escape(run.workflow)}* · "
        + link(run.run_url, f"run {run.run_id}, attempt {run.run_attempt}")
    )
    message.fields(
        [
            ("Repository", escape(run.repository)),
            ("Environment", escape(run.environment)),
            ("Job", escape(run.job or "")),
            ("Step", escape(run.step or "")),
            ("Commit", escape(run.short_sha or "")),
            ("Exit status", "" if exit_status is None else str(exit_status)),
        ]
    )
    if evidence and evidence.findings:
        top = evidence.findings[0]
        where = (
            link(f"{runbook_url.rstrip('/')}/runbooks/{top.runbook}.html", top.runbook)
            if runbook_url
            else f"`{escape(top.runbook)}`"
        )
        lines = "\n".join(f"> {escape(one_line(e, limit=200))}" for e in top.evidence[:2])
        message.section(
            f"*Likely cause:* {escape(one_line(top.cause))} (runbook {where}, "
            f"confidence {top.confidence:.2f})\n{lines}"
        )
    if failed and evidence and evidence.excerpt:
        message.code("\n".join(evidence.excerpt[-excerpt_lines:]))
    if outcome is not None and outcome.issue is not None:
        verb = {
            IssueAction.OPENED: "opened",
            IssueAction.COMMENTED: "updated",
            IssueAction.CLOSED: "closed",
        }.get(outcome.action, "tracked")
        message.context(
            [f"Issue {link(outcome.issue.html_url, f'#{outcome.issue.number}')} {verb}"]
        )
    return message


@dataclass
class NotifyReport:
    """What happened, for the job log; `problems` go to stderr and never change the exit."""

    issue: IncidentOutcome | None = None
    slack_posted: bool = False
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def _record(
    kind: str,
    client: GitHubClient,
    run: DeploymentRun,
    details: str,
    extra_labels: Sequence[str],
) -> IncidentOutcome:
    try:
        if kind == FAILURE:
            labels = list(dict.fromkeys([FAILURE_LABEL, run.environment_label, *extra_labels]))
            return await record_failure(client, run, issue_title(run), details, labels)
        return await record_recovery(client, run, details)
    finally:
        await client.aclose()


def notify(
    kind: str,
    run: DeploymentRun,
    *,
    github: GitHubClient | None,
    slack: SlackWebhook | None,
    evidence: LogEvidence | None = None,
    exit_status: int | None = None,
    runbook_url: str | None = None,
    extra_labels: Sequence[str] = (),
    report: NotifyReport | None = None,
) -> NotifyReport:
    """File or update the incident's issue, then post to Slack when that was news.

    `report` may already hold what the caller found (an unreadable log); it is added to.
    """
    report = report if report is not None else NotifyReport()
    if github is not None:
        details = issue_text(kind, run, evidence, exit_status, runbook_url)
        try:
            report.issue = asyncio.run(_record(kind, github, run, details, extra_labels))
        except (GitHubError, ValueError) as e:
            report.problems.append(f"GitHub issue not updated: {one_line(str(e))}")
    if report.issue is not None:
        shown = f" #{report.issue.issue.number}" if report.issue.issue else ""
        report.notes.append(f"issue{shown}: {report.issue.action.value}")
    if slack is None:
        return report
    if report.issue is not None and not report.issue.action.is_news:
        report.notes.append(f"slack: not posted (nothing new: {report.issue.action.value})")
        return report
    message = slack_message(kind, run, evidence, exit_status, report.issue, runbook_url)
    try:
        slack.post(message)
        report.slack_posted = True
        report.notes.append("slack: posted")
    except SlackError as e:
        report.problems.append(f"Slack message not posted: {one_line(str(e))}")
    return report
