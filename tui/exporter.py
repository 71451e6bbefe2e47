"""`runnerdoc exporter`: runner state from one shared GitHub poller, as Prometheus metrics.

At scale, one exporter per organisation is the only thing that polls GitHub; every
TUI, alert rule and dashboard reads runner state from Prometheus instead. Polls use
conditional requests, so an unchanged fleet costs no rate limit. Series of a runner
that was deleted disappear with the next poll, because every scrape is built from
the latest poll only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from tui.model import RateLimit, Runner, RunnerState, pool_of
from tui.sources.github import GitHubClient, GitHubError, QueuedJob

log = logging.getLogger("runnerdoc.exporter")
DEPRECATION_TTL = 3600.0  # a version's deprecation dates change rarely


@dataclass
class Poll:
    """What the last good poll saw."""

    runners: list[Runner] = field(default_factory=list)
    queued: list[QueuedJob] = field(default_factory=list)
    deprecated_versions: set[str] = field(default_factory=set)
    rate_limit: RateLimit | None = None
    finished_at: float | None = None


def job_pool(job: QueuedJob) -> str:
    """The pool a waiting job asks for, by the same rule as runners' pools."""
    generic = {"self-hosted", "linux", "windows", "macos", "x64", "arm64", "arm"}
    custom = [label for label in job.labels if label.lower() not in generic]
    for label in custom:
        if label.lower().startswith("pool"):
            return label
    return custom[0] if custom else "default"


class RunnerExporter(Collector):
    """Polls GitHub on its own schedule; Prometheus scrapes the last poll's result."""

    def __init__(
        self,
        client: GitHubClient,
        *,
        queued_repos: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ):
        self.client = client
        self.queued_repos = list(queued_repos)
        self.clock = clock
        self.poll = Poll()
        self.errors: dict[str, int] = {}
        self.last_duration = 0.0
        self._deprecations: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()
        self.last_points: int | None = None  # rate-limit points the last poll spent
        self.interval: float | None = None  # the wait chosen after the last poll

    async def poll_once(self) -> bool:
        """One poll of GitHub; on failure the previous poll's data stays and an error counts."""
        started = time.monotonic()
        before = self.client.rate_limit
        try:
            runners = await self.client.list_runners()
            queued = await self.client.queued_jobs(self.queued_repos) if self.queued_repos else []
            deprecated = await self._deprecated_versions(r.version for r in runners if r.version)
        except GitHubError as e:
            kind = type(e).__name__
            with self._lock:
                self.errors[kind] = self.errors.get(kind, 0) + 1
                self.last_duration = time.monotonic() - started
                # The limit headers of a failed answer are still the freshest we have.
                self.poll.rate_limit = self.client.rate_limit or self.poll.rate_limit
            log.warning("poll failed: %s", e)
            return False
        after = self.client.rate_limit
        if before is not None and after is not None and before.reset == after.reset:
            self.last_points = max(0, after.used - before.used)
        else:
            self.last_points = None  # a new rate-limit window began; cost unknown
        with self._lock:
            self.poll = Poll(
                runners=runners,
                queued=queued,
                deprecated_versions=deprecated,
                rate_limit=self.client.rate_limit,
                finished_at=self.clock(),
            )
            self.last_duration = time.monotonic() - started
        return True

    async def _deprecated_versions(self, versions: Iterable[str]) -> set[str]:
        now = self.clock()
        out: set[str] = set()
        for version in sorted(set(versions)):
            cached = self._deprecations.get(version)
            if cached is None or now - cached[1] > DEPRECATION_TTL:
                try:
                    info = await self.client.runner_deprecation(version)
                except ValueError:
                    continue  # not a version string GitHub would know
                cached = (info.deprecated(now), now)
                self._deprecations[version] = cached
            if cached[0]:
                out.add(version)
        return out

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self._lock:
            poll, errors, duration = self.poll, dict(self.errors), self.last_duration
        ids = ["runner", "runner_id", "pool"]
        online = GaugeMetricFamily(
            "runnerdoc_runner_online", "1 when GitHub shows the runner online.", labels=ids
        )
        busy = GaugeMetricFamily(
            "runnerdoc_runner_busy", "1 when the runner is running a job.", labels=ids
        )
        info = GaugeMetricFamily(
            "runnerdoc_runner_info",
            "Runner facts as labels; always 1.",
            labels=[*ids, "os", "version", "group", "labels"],
        )
        deprecated = GaugeMetricFamily(
            "runnerdoc_runner_version_deprecated",
            "1 when GitHub no longer runs jobs on this runner's version.",
            labels=["runner", "version"],
        )
        counts: dict[tuple[str, str], int] = {}
        for r in poll.runners:
            values = [r.name, str(r.id), pool_of(r)]
            online.add_metric(values, 1.0 if r.online else 0.0)
            busy.add_metric(values, 1.0 if r.busy else 0.0)
            info.add_metric(
                [*values, r.os, r.version or "", str(r.group_id or ""), ",".join(r.labels)], 1.0
            )
            if r.version:
                deprecated.add_metric(
                    [r.name, r.version], 1.0 if r.version in poll.deprecated_versions else 0.0
                )
            for state in RunnerState:
                counts.setdefault((pool_of(r), state.value), 0)
            counts[(pool_of(r), r.state.value)] += 1
        runners = GaugeMetricFamily(
            "runnerdoc_runners", "Runners per pool and state.", labels=["pool", "state"]
        )
        for (pool, state), n in sorted(counts.items()):
            runners.add_metric([pool, state], float(n))
        yield from (online, busy, info, deprecated, runners)

        queued = GaugeMetricFamily(
            "runnerdoc_queued_jobs", "Jobs waiting for a runner.", labels=["repository", "pool"]
        )
        oldest = GaugeMetricFamily(
            "runnerdoc_queued_job_oldest_seconds",
            "Age of the oldest job waiting for a runner.",
            labels=["repository", "pool"],
        )
        now = self.clock()
        groups: dict[tuple[str, str], list[QueuedJob]] = {}
        for job in poll.queued:
            groups.setdefault((job.repository, job_pool(job)), []).append(job)
        for key, jobs in sorted(groups.items()):
            queued.add_metric(list(key), float(len(jobs)))
            oldest.add_metric(
                list(key), max(0.0, now - min(j.created_at.timestamp() for j in jobs))
            )
        yield from (queued, oldest)

        remaining = GaugeMetricFamily(
            "runnerdoc_github_rate_limit_remaining",
            "GitHub API requests left in this window.",
            labels=["resource"],
        )
        limit = GaugeMetricFamily(
            "runnerdoc_github_rate_limit_limit",
            "GitHub API requests allowed per window.",
            labels=["resource"],
        )
        if poll.rate_limit is not None:
            remaining.add_metric([poll.rate_limit.resource], float(poll.rate_limit.remaining))
            limit.add_metric([poll.rate_limit.resource], float(poll.rate_limit.limit))
        yield from (remaining, limit)

        failures = CounterMetricFamily(
            "runnerdoc_github_poll_errors",
            "Polls of GitHub that failed, by kind of error.",
            labels=["kind"],
        )
        for kind, n in sorted(errors.items()):
            failures.add_metric([kind], float(n))
        yield failures
        yield GaugeMetricFamily(
            "runnerdoc_github_poll_duration_seconds", "How long the last poll took.", value=duration
        )
        if self.interval is not None:
            yield GaugeMetricFamily(
                "runnerdoc_github_poll_interval_seconds",
                "The wait between polls, stretched to stay within the rate-limit budget.",
                value=self.interval,
            )
        if poll.finished_at is not None:
            yield GaugeMetricFamily(
                "runnerdoc_github_last_success_timestamp_seconds",
                "When the last good poll finished.",
                value=poll.finished_at,
            )


@dataclass
class BudgetGovernor:
    """Stretches the poll interval so polling spends at most `share` of the hourly budget.

    A changed page costs a point however it is asked for, so with runners changing
    all over the fleet only fewer polls save budget. The cost per poll is the larger
    of the last poll's and a smoothed average, so the wait grows at once after a
    costly poll and shrinks gradually when the fleet calms down.
    """

    share: float
    smoothed_points: float | None = None

    def next_interval(self, base: float, points: int | None, limit: int | None) -> float:
        cost = self.smoothed_points
        if points is not None:
            self.smoothed_points = (
                float(points)
                if self.smoothed_points is None
                else 0.7 * self.smoothed_points + 0.3 * points
            )
            # React to a costly poll at once, relax slowly after it.
            cost = max(self.smoothed_points, float(points))
        if cost is None or not limit:
            return base
        # Aim 10% under the share: an hour that starts with a poll holds one poll more
        # than 3600 / interval.
        allowed_per_hour = 0.9 * self.share * limit
        return max(base, cost * 3600.0 / allowed_per_hour)


async def run_forever(
    exporter: RunnerExporter,
    interval: float,
    stop: asyncio.Event | None = None,
    *,
    budget_share: float | None = None,
) -> None:
    """Poll, wait after each poll ends (polls never overlap), until stopped.

    With `budget_share`, the wait grows so polling stays within that share of the
    rate limit; the wait is exported as runnerdoc_github_poll_interval_seconds.
    """
    stop = stop or asyncio.Event()
    governor = BudgetGovernor(budget_share) if budget_share else None
    while not stop.is_set():
        await exporter.poll_once()
        wait = interval
        if governor is not None:
            limit = exporter.client.rate_limit.limit if exporter.client.rate_limit else None
            wait = governor.next_interval(interval, exporter.last_points, limit)
        exporter.interval = wait
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait)
        except TimeoutError:
            pass
