"""`runnerdoc notify` against the GitHub simulator and the Slack simulator: one incident, one
issue; re-runs add nothing; failures of the notifications never change the job's exit status."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.github_sim import GitHubSimulator
from lab.slack_sim import SlackSimulator
from tui.pipeline.deployment import DeploymentRun
from tui.pipeline.incident import IssueAction, comment_bodies, record_recovery
from tui.sources.github import GitHubClient, Scope

RUNNERDOC = str(Path(sys.executable).with_name("runnerdoc"))
TOKEN = "ghp_notifyTest_" + "q" * 30
REPO = "acme/api"

DISK_FULL_LOG = """\
2026-11-28T01:00:00.0000000Z ##[group]Run ./deploy.sh production
2026-11-28T01:00:01.0000000Z Building image api:1.4.2
2026-11-28T01:00:09.0000000Z DEPLOY_API_TOKEN=s3cr3t-deploy-value-123
2026-11-28T01:00:10.0000000Z System.IO.IOException: No space left on device : '/home/runner/_work/api/api/build/app.tar'
2026-11-28T01:00:10.0000000Z Error: Process completed with exit code 1.
"""  # noqa: E501


@pytest.fixture
def github():
    with GitHubSimulator(org="acme", token=TOKEN) as sim:
        yield sim


@pytest.fixture
def slack():
    with SlackSimulator() as sim:
        yield sim


def notify(
    event: str, *args: str, github: GitHubSimulator, slack: SlackSimulator | None,
    run_id: str = "100", attempt: str = "1", cwd: Path, extra_env: dict | None = None,
):  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SLACK_"))}
    env.pop("RUNNERDOC_CONFIG", None)
    env.update(
        XDG_CONFIG_HOME=str(cwd), GITHUB_TOKEN=TOKEN, GITHUB_API_URL=github.url,
        GITHUB_SERVER_URL="https://github.com", GITHUB_REPOSITORY=REPO,
        GITHUB_WORKFLOW="Deploy", GITHUB_JOB="deploy", GITHUB_RUN_ID=run_id,
        GITHUB_RUN_ATTEMPT=attempt, GITHUB_SHA="0123456789abcdef0123",
        DEPLOY_API_TOKEN="s3cr3t-deploy-value-123",
    )  # fmt: skip
    if slack is not None:
        env["SLACK_WEBHOOK_URL"] = slack.url
    env.update(extra_env or {})
    return subprocess.run(
        [RUNNERDOC, "notify", event, *args], capture_output=True, text=True, env=env,
        cwd=cwd, timeout=120,
    )  # fmt: skip


def issues(github: GitHubSimulator) -> list[dict]:
    return sorted(github.issues(REPO), key=lambda i: i["number"])


def test_one_incident_one_issue_from_failure_to_recovery(github, slack, tmp_path):
    log = tmp_path / "deploy.log"
    log.write_text(DISK_FULL_LOG)
    fail = ["--environment", "production", "--step", "Deploy", "--exit-status", "3"]

    first = notify("deployment-failure", *fail, "--log-file", str(log),
                   github=github, slack=slack, cwd=tmp_path)  # fmt: skip
    assert first.returncode == 3, first.stderr
    (issue,) = issues(github)
    assert issue["state"] == "open"
    assert {label["name"] for label in issue["labels"]} == {"deployment-failure", "env:production"}
    assert issue["title"] == "Deployment to production failing: Deploy"
    body = issue["body"]
    assert "<!-- runnerdoc:incident " in body and "<!-- runnerdoc:run 100.1 failure -->" in body
    assert "https://github.com/acme/api/actions/runs/100" in body
    assert "Disk full" in body and "degraded-resources" in body
    assert "No space left on device" in body  # the excerpt
    assert "s3cr3t-deploy-value-123" not in body  # a secret-looking variable's value
    assert "| Step | `Deploy` |" in body and "| Exit status | `3` |" in body
    assert len(slack.messages) == 1
    posted = str(slack.messages[0])
    assert "Deployment to production failed" in posted and "Disk full" in posted
    assert "s3cr3t-deploy-value-123" not in posted
    assert "issue #1: opened" in first.stdout

    # The same notification again (a re-run of the step): nothing new anywhere.
    again = notify("deployment-failure", *fail, github=github, slack=slack, cwd=tmp_path)
    assert again.returncode == 3
    assert github.comments(REPO, 1) == [] and len(issues(github)) == 1
    assert len(slack.messages) == 1
    assert "already-recorded" in again.stdout

    # A repeat failure of the same pipeline comments on the open issue.
    repeat = notify("deployment-failure", *fail, github=github, slack=slack, cwd=tmp_path,
                    run_id="101")  # fmt: skip
    assert repeat.returncode == 3
    (comment,) = github.comments(REPO, 1)
    assert "<!-- runnerdoc:run 101.1 failure -->" in comment["body"]
    assert len(slack.messages) == 2
    # Attempt 2 of run 101 is a different notification.
    notify("deployment-failure", *fail, github=github, slack=slack, cwd=tmp_path,
           run_id="101", attempt="2")  # fmt: skip
    assert len(github.comments(REPO, 1)) == 2 and len(slack.messages) == 3

    # Another environment is another incident.
    notify("deployment-failure", "--environment", "staging", github=github, slack=slack,
           cwd=tmp_path)  # fmt: skip
    assert [i["title"] for i in issues(github)][1] == "Deployment to staging failing: Deploy"

    # Recovery closes production's issue with a comment, and says so in Slack.
    ok = notify("deployment-recovered", "--environment", "production", github=github,
                slack=slack, cwd=tmp_path, run_id="102")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    production, staging = issues(github)
    assert production["state"] == "closed" and staging["state"] == "open"
    assert "<!-- runnerdoc:run 102.1 recovered -->" in github.comments(REPO, 1)[-1]["body"]
    assert "recovered" in str(slack.messages[-1]) and len(slack.messages) == 5

    # Recovered again, or recovered with nothing open: nothing to say.
    notify("deployment-recovered", "--environment", "production", github=github, slack=slack,
           cwd=tmp_path, run_id="102")  # fmt: skip
    notify("deployment-recovered", "--environment", "production", github=github, slack=slack,
           cwd=tmp_path, run_id="103")  # fmt: skip
    assert len(slack.messages) == 5

    # A new failure after recovery is a new incident, with a new issue.
    notify("deployment-failure", "--environment", "production", github=github, slack=slack,
           cwd=tmp_path, run_id="104")  # fmt: skip
    assert [i["state"] for i in issues(github)] == ["closed", "open", "open"]


def test_broken_notifications_never_change_the_exit_status(github, slack, tmp_path):
    github.inject_5xx(count=None)
    slack.revoke()
    out = notify("deployment-failure", "--environment", "production", "--exit-status", "7",
                 github=github, slack=slack, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 7
    assert "GitHub issue not updated" in out.stderr
    assert "Slack message not posted: Slack refused the message: 404 no_service" in out.stderr
    for secret in (TOKEN, slack.path.rsplit("/", 1)[1]):
        assert secret not in out.stdout + out.stderr
    recovered = notify("deployment-recovered", "--environment", "production",
                       github=github, slack=slack, cwd=tmp_path)  # fmt: skip
    assert recovered.returncode == 0

    # Even unusable input or a crash in the notification keeps the job's status.
    bad = notify("deployment-failure", "--exit-status", "4", github=github, slack=slack,
                 cwd=tmp_path)  # fmt: skip
    assert bad.returncode == 4 and "--environment" in bad.stderr
    no_token = notify("deployment-failure", "--environment", "production", github=github,
                      slack=None, cwd=tmp_path, extra_env={"GITHUB_TOKEN": ""})  # fmt: skip
    assert no_token.returncode == 1


def test_slack_still_hears_when_github_cannot_be_asked(github, slack, tmp_path):
    github.inject_5xx(count=None)
    out = notify("deployment-failure", "--environment", "production", github=github,
                 slack=slack, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 1
    assert len(slack.messages) == 1  # an alert twice beats none
    only_slack = notify("deployment-failure", "--environment", "production", "--no-issue",
                        github=github, slack=slack, cwd=tmp_path, run_id="200")  # fmt: skip
    assert only_slack.returncode == 1 and len(slack.messages) == 2


def test_slack_rate_limit_is_waited_out(github, slack, tmp_path):
    slack.fail("rate_limited", retry_after=1)
    out = notify("deployment-failure", "--environment", "production", github=github,
                 slack=slack, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 1
    assert [r["status"] for r in slack.requests] == [429, 200]
    assert len(slack.messages) == 1


def test_webhook_file_and_untrusted_names(github, slack, tmp_path):
    hook = tmp_path / "slack.url"
    hook.write_text(slack.url)
    out = notify(
        "deployment-failure", "--environment", "production", "--slack-webhook-file", str(hook),
        "--workflow", "<!channel> Deploy `x`", github=github, slack=None, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    posted = str(slack.messages[0])
    assert "<!channel>" not in posted and "&lt;!channel&gt;" in posted
    body = issues(github)[0]["body"]
    assert "| Workflow | `<!channel> Deploy 'x'` |" in body  # code: no mention, no Markdown


def test_a_rerun_after_a_half_done_recovery_closes_without_a_second_comment(github):
    run = DeploymentRun(REPO, "production", "Deploy", "300")

    async def scenario():
        client = GitHubClient(github.url, lambda: TOKEN, Scope("repo", REPO))
        try:
            issue = await client.create_issue(
                REPO, "Deployment to production failing: Deploy",
                f"{run.incident_marker}\nfirst failure", ["deployment-failure"],
            )  # fmt: skip
            # The comment went out, then the job died before closing the issue.
            await client.comment_issue(REPO, issue.number, run.run_marker("recovered") + "\nok")
            outcome = await record_recovery(client, run, "recovered")
            return outcome, await comment_bodies(client, REPO, issue.number)
        finally:
            await client.aclose()

    outcome, comments = asyncio.run(scenario())
    assert outcome.action is IssueAction.CLOSED
    assert len(comments) == 1
    assert issues(github)[0]["state"] == "closed"
