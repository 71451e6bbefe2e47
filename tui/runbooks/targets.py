"""Where a step's command runs: the runner host over SSH, or the operator's machine.

Adapts the SSH layer to the engine's `Executor`, and builds the values the runbooks
take from context (the runner, GitHub's URLs and scope, the lab's runner roots).
"""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Callable

from tui.config import ConfigError, Settings
from tui.remote import RemoteError, RunnerHosts
from tui.runbooks.diagnosis import LogSource
from tui.runbooks.engine import CommandResult, Executor, LocalExecutor
from tui.runbooks.runbook import Runbook

DEFAULT_RUNNER_ROOT = "/home/runner/actions-runner"


class SSHExecutor:
    """Runs commands on one runner's host through the shared SSH connections."""

    def __init__(self, hosts: RunnerHosts, runner: str):
        self.hosts = hosts
        self.runner = runner

    def run(
        self,
        command: str,
        *,
        timeout: float,
        on_output: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> CommandResult:
        try:
            r = self.hosts.run(
                self.runner, command, timeout=timeout, on_output=on_output, cancel=cancel
            )
        except RemoteError as e:
            return CommandResult(None, "", 0.0, error=str(e))
        return CommandResult(
            exit_status=r.exit_status,
            output=r.output,
            duration=r.duration,
            timed_out=r.timed_out,
            cancelled=r.cancelled,
            error=r.problem if r.sudo_wants_password else None,
        )


def github_web_url(settings: Settings) -> str:
    """What config.sh --url takes: the organisation, repository or enterprise page."""
    if settings.scope is None:
        raise ConfigError("no GitHub scope: give --org, --repo or --enterprise")
    base = settings.github_url.rstrip("/")
    if settings.scope.kind == "enterprise":
        return f"{base}/enterprises/{settings.scope.name}"
    return f"{base}/{settings.scope.name}"


def context_values(runbook: Runbook, runner: str, settings: Settings) -> dict[str, str]:
    """The declared parameters runnerdoc fills itself; given --param values win over these."""
    known: dict[str, str] = {"runner": runner, "github_api_url": settings.github_api_url}
    if settings.scope is not None:
        known["github_scope"] = settings.scope.api_path
        known["github_url"] = github_web_url(settings)
    # [runbooks.parameters] in the config (the lab's [lab.runbook_parameters]) win over
    # what is derived, e.g. an API URL that goes through the host's DNS like github.com.
    known.update(settings.runbook_parameters)
    if runner in settings.runner_roots:
        known["runner_root"] = settings.runner_roots[runner]
    return {k: v for k, v in known.items() if k in runbook.parameters}


def executors(settings: Settings, runner: str, hosts: RunnerHosts) -> dict[str, Executor]:
    env = dict(os.environ)
    if "GITHUB_TOKEN" not in env and settings.scope is not None:
        try:
            # Local steps call the GitHub API with $GITHUB_TOKEN, never with the token
            # in the command text, so it stays out of the journal and the screen.
            env["GITHUB_TOKEN"] = settings.token_provider()().reveal()
        except ConfigError:
            pass
    return {"runner": SSHExecutor(hosts, runner), "local": LocalExecutor(env)}


def ssh_log_reader(
    settings: Settings, hosts: RunnerHosts, lines: int = 300
) -> Callable[[str], object]:
    """An async reader of a runner's journal and newest _diag logs, for diagnosis."""

    async def read(runner: str) -> list[LogSource]:
        import asyncio

        root = shlex.quote(settings.runner_roots.get(runner, DEFAULT_RUNNER_ROOT))
        n = int(lines)
        commands = {
            "journal": f'journalctl -u "$(cat {root}/.service)" -n {n} --no-pager -o short-iso',
            "runner-log": f'tail -n {n} "$(ls -t {root}/_diag/Runner_*.log | head -n 1)"',
            "worker-log": f'tail -n {n} "$(ls -t {root}/_diag/Worker_*.log | head -n 1)"',
        }
        sources: list[LogSource] = []
        for name, command in commands.items():
            result = await asyncio.to_thread(hosts.run, runner, command, timeout=30)
            if result.exit_status == 0:
                sources.append(LogSource(name, result.output.splitlines()))
        return sources

    return read
