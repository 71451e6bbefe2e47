"""Plain dataclasses that every layer shares: what the fleet looks like, free of any I/O.

Sources build them, diagnosis reads them, the UI draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RunnerState(StrEnum):
    """A runner's state as GitHub's own UI names it, plus the orphan case it does not show.

    The values are the `state` label of the `runnerdoc_runners` metric.
    """

    IDLE = "idle"  # online, waiting for a job
    ACTIVE = "active"  # online, running a job
    OFFLINE = "offline"  # not connected
    ORPHAN = "orphan"  # reported offline AND busy: its job is stuck until GitHub gives up


@dataclass(frozen=True)
class Runner:
    """One self-hosted runner as GitHub reports it.

    `labels` holds the label names in GitHub's order; `label_types` holds, at the same index,
    each label's type: "read-only" (set by the runner itself, e.g. self-hosted, Linux, X64)
    or "custom" (given at registration, e.g. pool-a, gpu).
    """

    id: int
    name: str
    os: str
    status: str
    busy: bool
    labels: tuple[str, ...] = ()
    label_types: tuple[str, ...] = ()
    ephemeral: bool = False
    version: str | None = None
    group_id: int | None = None

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.label_types):
            raise ValueError("labels and label_types must have one entry per label")

    @property
    def online(self) -> bool:
        # GitHub documents only "online" and "offline"; anything else is not a live runner.
        return self.status == "online"

    @property
    def state(self) -> RunnerState:
        if self.online:
            return RunnerState.ACTIVE if self.busy else RunnerState.IDLE
        return RunnerState.ORPHAN if self.busy else RunnerState.OFFLINE

    @property
    def custom_labels(self) -> tuple[str, ...]:
        return tuple(
            name
            for name, kind in zip(self.labels, self.label_types, strict=True)
            if kind == "custom"
        )


def pool_of(runner: Runner) -> str:
    """The pool a runner serves: a custom label starting with "pool", else its first
    custom label, else "default". `runs-on` labels are AND-ed, so teams name pools by label.
    """
    custom = runner.custom_labels
    for label in custom:
        if label.lower().startswith("pool"):
            return label
    return custom[0] if custom else "default"


@dataclass(frozen=True)
class HostHealth:
    """The health of the host a runner runs on, from node_exporter metrics.

    Ratios are 0..1; None means the metric was not there (the panel shows "–").
    """

    runner: str
    instance: str
    cpu_busy: float | None = None
    memory_available: float | None = None
    disk_used: float | None = None
    inodes_free: float | None = None
    load_per_cpu: float | None = None
    service_active: bool | None = None
    clock_offset: float | None = None  # seconds, absolute

    @property
    def memory_used(self) -> float | None:
        return None if self.memory_available is None else 1.0 - self.memory_available


@dataclass(frozen=True)
class Alert:
    """A firing alert from Alertmanager (API v2)."""

    name: str
    severity: str
    state: str  # active | suppressed | unprocessed
    labels: tuple[tuple[str, str], ...]
    summary: str
    description: str
    runbook_url: str
    starts_at: float  # epoch seconds
    fingerprint: str

    def label(self, name: str, default: str = "") -> str:
        return dict(self.labels).get(name, default)

    @property
    def runner(self) -> str | None:
        return self.label("runner") or None

    @property
    def runbook_id(self) -> str | None:
        """The runbook page the alert links to, e.g. .../runbooks/runner-offline.html."""
        tail = self.runbook_url.rstrip("/").rsplit("/", 1)[-1]
        for suffix in (".html", ".md", "/"):
            tail = tail.removesuffix(suffix)
        return tail or None


@dataclass(frozen=True)
class LogLine:
    """One log line; `text` has control characters already stripped."""

    timestamp: float  # epoch seconds
    text: str
    labels: tuple[tuple[str, str], ...] = ()
    source: str = ""


@dataclass(frozen=True)
class SourceStatus:
    """How fresh one source's data is. A failing source keeps its last good data."""

    name: str
    ok: bool
    updated_at: float | None  # when the data shown was fetched; None = never
    error: str | None = None
    failing_since: float | None = None
    configured: bool = True

    def age(self, now: float) -> float | None:
        return None if self.updated_at is None else max(0.0, now - self.updated_at)

    @property
    def stale(self) -> bool:
        return not self.ok and self.updated_at is not None


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    used: int
    reset: float  # epoch seconds
    resource: str = "core"


@dataclass(frozen=True)
class FleetRow:
    """One runner with everything known about it, as one line of the fleet table."""

    runner: Runner
    pool: str
    health: HostHealth | None
    alerts: tuple[Alert, ...] = ()

    @property
    def name(self) -> str:
        return self.runner.name

    @property
    def state(self) -> RunnerState:
        return self.runner.state


@dataclass(frozen=True)
class FleetSnapshot:
    """The whole fleet at one moment; immutable, so the UI can diff two of them."""

    taken_at: float
    rows: tuple[FleetRow, ...]
    alerts: tuple[Alert, ...]
    sources: tuple[SourceStatus, ...]
    rate_limit: RateLimit | None = None
    queued_jobs: int | None = None

    def source(self, name: str) -> SourceStatus | None:
        return next((s for s in self.sources if s.name == name), None)

    def row(self, name: str) -> FleetRow | None:
        return next((r for r in self.rows if r.name == name), None)

    def counts(self) -> dict[str, dict[RunnerState, int]]:
        """Runners per pool and state."""
        out: dict[str, dict[RunnerState, int]] = {}
        for r in self.rows:
            per = out.setdefault(r.pool, dict.fromkeys(RunnerState, 0))
            per[r.state] += 1
        return out


@dataclass(frozen=True)
class Finding:
    """A likely cause with its evidence and the runbook (and step) that fixes it."""

    cause: str
    runbook: str
    confidence: float  # 0..1
    evidence: tuple[str, ...]
    severity: str = "warning"
    step: str | None = None
