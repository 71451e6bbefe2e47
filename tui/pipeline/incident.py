"""One incident, one issue: a failing pipeline opens an issue, its repeat failures comment on
it, its recovery closes it, and running the same notification again adds nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tui.pipeline.deployment import FAILURE_LABEL, DeploymentRun
from tui.sources.github import GitHubClient, Issue


class IssueAction(StrEnum):
    OPENED = "opened"
    COMMENTED = "commented"
    CLOSED = "closed"
    ALREADY_RECORDED = "already-recorded"  # this run attempt was notified before
    NO_INCIDENT = "no-incident"  # recovered, but nothing was open

    @property
    def is_news(self) -> bool:
        return self in (IssueAction.OPENED, IssueAction.COMMENTED, IssueAction.CLOSED)


@dataclass(frozen=True)
class IncidentOutcome:
    action: IssueAction
    issue: Issue | None = None


async def comment_bodies(client: GitHubClient, repo: str, number: int) -> list[str]:
    """Every comment's text on an issue, all pages."""
    return await client.list_comments(repo, number)


async def open_incident(client: GitHubClient, run: DeploymentRun) -> Issue | None:
    """The open issue of this pipeline's incident, found by its marker."""
    issues = await client.list_issues(run.repository, state="open", labels=[FAILURE_LABEL])
    for issue in issues:
        if issue.body and run.incident_marker in issue.body:
            return issue
    return None


async def _already(client: GitHubClient, run: DeploymentRun, issue: Issue, marker: str) -> bool:
    if issue.body and marker in issue.body:
        return True
    return any(
        marker in body for body in await comment_bodies(client, run.repository, issue.number)
    )


async def record_failure(
    client: GitHubClient, run: DeploymentRun, title: str, details: str, labels: list[str]
) -> IncidentOutcome:
    """Open the incident's issue, or comment on it when it is open already."""
    marker = run.run_marker("failure")
    issue = await open_incident(client, run)
    if issue is None:
        body = f"{run.incident_marker}\n{marker}\n{details}"
        created = await client.create_issue(run.repository, title, body, labels)
        return IncidentOutcome(IssueAction.OPENED, created)
    if await _already(client, run, issue, marker):
        return IncidentOutcome(IssueAction.ALREADY_RECORDED, issue)
    await client.comment_issue(run.repository, issue.number, f"{marker}\n{details}")
    return IncidentOutcome(IssueAction.COMMENTED, issue)


async def record_recovery(
    client: GitHubClient, run: DeploymentRun, details: str
) -> IncidentOutcome:
    """Close the incident's issue with a comment saying which run recovered it."""
    marker = run.run_marker("recovered")
    issue = await open_incident(client, run)
    if issue is None:
        return IncidentOutcome(IssueAction.NO_INCIDENT)
    # A re-run after the comment went out but the close did not: close without a second one.
    if not await _already(client, run, issue, marker):
        await client.comment_issue(run.repository, issue.number, f"{marker}\n{details}")
    closed = await client.close_issue(run.repository, issue.number)
    return IncidentOutcome(IssueAction.CLOSED, closed)
