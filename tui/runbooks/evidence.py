"""Gathering the evidence diagnosis reads, for one runner, from every configured source.

Each source is asked once; one that fails is noted in `Evidence.notes` and the
diagnosis goes on with what the others said. Logs come from Loki when it is
configured, and from the host itself over SSH when a log reader is given.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tui.queries import QueryTemplate
from tui.runbooks.diagnosis import Evidence, LogSource, metric_key
from tui.runbooks.runbook import Runbook
from tui.sources.alertmanager import AlertmanagerClient
from tui.sources.errors import SourceError
from tui.sources.github import GitHubClient, GitHubError
from tui.sources.loki import LokiClient
from tui.sources.prometheus import PrometheusClient

LogReader = Callable[[str], Awaitable[list[LogSource]]]


def _regex_literal(text: str) -> str:
    return re.escape(text)


async def gather(
    runner: str,
    runbooks: Mapping[str, Runbook],
    templates: Mapping[str, QueryTemplate],
    *,
    github: GitHubClient | None = None,
    prometheus: PrometheusClient | None = None,
    alertmanager: AlertmanagerClient | None = None,
    loki: LokiClient | None = None,
    read_logs: LogReader | None = None,
    host_label: str = "runner",
    log_window: float = 3600.0,
) -> Evidence:
    evidence = Evidence(runner=runner)

    async def from_github() -> None:
        assert github is not None
        found = [r for r in await github.list_runners(name=runner) if r.name == runner]
        if found:
            evidence.state = found[0].state
        else:
            evidence.notes.append(f"GitHub has no runner named {runner}")

    async def from_prometheus() -> None:
        assert prometheus is not None
        wanted: dict[tuple[Any, ...], tuple[str, Mapping[str, str]]] = {}
        for book in runbooks.values():
            for rule in book.detection:
                if rule.source == "metric" and rule.query in templates:
                    wanted[metric_key(rule.query, rule.params)] = (rule.query, rule.params)
        values: dict[tuple[Any, ...], float] = {}
        for key, (query, params) in wanted.items():
            expr = templates[query].render(dict(params))
            for sample in await prometheus.query(expr):
                if sample.labels.get(host_label) == runner or (
                    sample.labels.get("runner") == runner
                ):
                    values[key] = sample.value
        evidence.metrics = values

    async def from_alertmanager() -> None:
        assert alertmanager is not None
        evidence.alerts = [a for a in await alertmanager.alerts() if a.runner == runner]

    async def from_loki() -> None:
        assert loki is not None
        # Every line of the runner, any level: signatures decide what matters.
        template = templates["runner-error-logs"]
        query = template.render({"runner": _regex_literal(runner), "level": ".+"})
        now = time.time()
        lines = await loki.logs(query, start=now - log_window, end=now, limit=500,
                                newest_first=False)  # fmt: skip
        evidence.logs = [*evidence.logs, LogSource("loki", [ln.text for ln in lines])]

    async def from_host() -> None:
        assert read_logs is not None
        evidence.logs = [*evidence.logs, *await read_logs(runner)]

    jobs: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    if github:
        jobs.append(("github", from_github))
    if prometheus:
        jobs.append(("prometheus", from_prometheus))
    if alertmanager:
        jobs.append(("alertmanager", from_alertmanager))
    if loki:
        jobs.append(("loki", from_loki))
    if read_logs:
        jobs.append(("ssh", from_host))
    results = await asyncio.gather(*(job() for _, job in jobs), return_exceptions=True)
    for (name, _), result in zip(jobs, results, strict=True):
        if isinstance(result, SourceError | GitHubError | OSError):
            evidence.notes.append(f"{name}: {result}")
        elif isinstance(result, BaseException):
            if isinstance(result, asyncio.CancelledError | KeyboardInterrupt):
                raise result
            evidence.notes.append(f"{name}: {type(result).__name__}: {result}")
    return evidence
