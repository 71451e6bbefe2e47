"""One refresh of every configured source, joined into an immutable `FleetSnapshot`.

Sources are asked concurrently. A source that fails keeps its last good data,
marked stale with its age and the error; the others carry on. Callers get a
snapshot every time, never an exception from a source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tui.config import Settings
from tui.model import (
    Alert,
    FleetRow,
    FleetSnapshot,
    HostHealth,
    RateLimit,
    Runner,
    SourceStatus,
    pool_of,
)
from tui.queries import QueryTemplate, load_templates
from tui.sources.alertmanager import AlertmanagerClient
from tui.sources.errors import SourceError
from tui.sources.github import GitHubClient, GitHubError, Scope
from tui.sources.prometheus import PrometheusClient
from tui.text import one_line

SOURCE_NAMES = ("github", "prometheus", "alertmanager")


@dataclass
class _Kept:
    """The last good data of one source and how fresh it is."""

    data: Any = None
    updated_at: float | None = None
    error: str | None = None
    failing_since: float | None = None


@dataclass
class Clients:
    github: GitHubClient | None = None
    prometheus: PrometheusClient | None = None
    alertmanager: AlertmanagerClient | None = None

    async def aclose(self) -> None:
        for c in (self.github, self.prometheus, self.alertmanager):
            if c is not None:
                await c.aclose()


def clients_from_settings(settings: Settings) -> Clients:
    """The clients the settings ask for; a source without a URL or scope is left out."""
    github = None
    if settings.scope is not None:
        provider = settings.token_provider()
        github = GitHubClient(
            settings.github_api_url,
            lambda: provider().reveal(),
            Scope(settings.scope.kind, settings.scope.name),
        )
    return Clients(
        github=github,
        prometheus=PrometheusClient(settings.prometheus_url) if settings.prometheus_url else None,
        alertmanager=AlertmanagerClient(settings.alertmanager_url)
        if settings.alertmanager_url
        else None,
    )


@dataclass
class FleetCollector:
    clients: Clients
    host_label: str = "runner"
    templates: Mapping[str, QueryTemplate] = field(default_factory=load_templates)
    # Repositories whose queued jobs are counted (settings.queued_repos); none: not counted.
    queued_repos: tuple[str, ...] = ()
    clock: Callable[[], float] = time.time
    last: FleetSnapshot | None = None
    _kept: dict[str, _Kept] = field(default_factory=lambda: {n: _Kept() for n in SOURCE_NAMES})

    async def _github(self) -> tuple[list[Runner], int | None]:
        assert self.clients.github is not None
        runners = await self.clients.github.list_runners()
        queued = None
        if self.queued_repos:
            queued = len(await self.clients.github.queued_jobs(self.queued_repos))
        return runners, queued

    async def _prometheus(self) -> dict[str, HostHealth]:
        assert self.clients.prometheus is not None
        return await self.clients.prometheus.host_health(self.templates, host_label=self.host_label)

    async def _alertmanager(self) -> list[Alert]:
        assert self.clients.alertmanager is not None
        return await self.clients.alertmanager.alerts()

    async def refresh(self) -> FleetSnapshot:
        """Ask every source once, concurrently, and build the snapshot."""
        wanted = {
            "github": self._github if self.clients.github else None,
            "prometheus": self._prometheus if self.clients.prometheus else None,
            "alertmanager": self._alertmanager if self.clients.alertmanager else None,
        }
        names = [n for n, f in wanted.items() if f is not None]
        results = await asyncio.gather(
            *(wanted[n]() for n in names),  # type: ignore[misc]
            return_exceptions=True,
        )
        now = self.clock()
        for name, result in zip(names, results, strict=True):
            kept = self._kept[name]
            if isinstance(result, SourceError | GitHubError):
                kept.error = one_line(str(result), limit=300)
                kept.failing_since = kept.failing_since or now
            elif isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError | KeyboardInterrupt):
                    raise result
                # An unexpected failure is still a failing source, not a crash of the UI.
                kept.error = f"{type(result).__name__}: {one_line(str(result), limit=200)}"
                kept.failing_since = kept.failing_since or now
            else:
                kept.data, kept.updated_at = result, now
                kept.error = kept.failing_since = None
        self.last = self._snapshot(now, set(names))
        return self.last

    def _snapshot(self, now: float, configured: set[str]) -> FleetSnapshot:
        runners, queued = self._kept["github"].data or ([], None)
        health: dict[str, HostHealth] = self._kept["prometheus"].data or {}
        alerts: list[Alert] = self._kept["alertmanager"].data or []
        by_runner: dict[str, list[Alert]] = {}
        for alert in alerts:
            if alert.runner:
                by_runner.setdefault(alert.runner, []).append(alert)
        rows = tuple(
            FleetRow(
                runner=r,
                pool=pool_of(r),
                health=health.get(r.name),
                alerts=tuple(by_runner.get(r.name, ())),
            )
            for r in sorted(runners, key=lambda r: r.name)
        )
        sources = tuple(
            SourceStatus(
                name=n,
                ok=self._kept[n].error is None and n in configured,
                updated_at=self._kept[n].updated_at,
                error=self._kept[n].error,
                failing_since=self._kept[n].failing_since,
                configured=n in configured,
            )
            for n in SOURCE_NAMES
        )
        rate: RateLimit | None = self.clients.github.rate_limit if self.clients.github else None
        return FleetSnapshot(
            taken_at=now,
            rows=rows,
            alerts=tuple(alerts),
            sources=sources,
            rate_limit=rate,
            queued_jobs=queued,
        )
