"""What the fleet table shows, as plain values: columns, cell values, order, state history.

The table widget turns these values into styled text. Keeping them plain and hashable
lets the widget compare two snapshots cell by cell and repaint only what changed.
No Textual here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tui.model import FleetRow, FleetSnapshot, RunnerState
from tui.screens.fleet_filter import FleetFilter
from tui.text import one_line
from tui.widgets.freshness import age_text

STATE_SYMBOL = {
    RunnerState.IDLE: "○",
    RunnerState.ACTIVE: "●",
    RunnerState.OFFLINE: "×",
    RunnerState.ORPHAN: "!",
}
# Worst first: an orphan holds a job hostage, an offline runner only lowers capacity.
STATE_RANK = {RunnerState.ORPHAN: 0, RunnerState.OFFLINE: 1, RunnerState.ACTIVE: 2,
              RunnerState.IDLE: 3}  # fmt: skip
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}

SORT_COLUMNS = ("name", "state", "pool", "version", "cpu", "mem", "disk", "alerts", "since")
BAR_CELLS = 4  # a bar is this many cells wide; each cell has 8 steps


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int  # cells, including the one-cell gap after it
    right: bool = False


def columns_for(width: int) -> tuple[Column, ...]:
    """Column widths for a table `width` cells wide: 80 columns keep every column."""
    wide = width >= 110
    fixed = [
        Column("state", "STATE", 10),
        Column("name", "RUNNER", 0),
        Column("pool", "POOL/LABELS", 20 if wide else 12),
        Column("version", "VERSION", 9 if wide else 8),
        Column("cpu", "CPU", 10 if wide else 5),
        Column("mem", "MEM", 10 if wide else 5),
        Column("disk", "DISK", 10 if wide else 5),
        Column("alerts", "ALERTS", 24 if wide else 11),
        Column("since", "SINCE", 6 if wide else 5, right=True),
    ]
    rest = width - sum(c.width for c in fixed)
    name_width = max(12, min(rest, 40))
    out = []
    for c in fixed:
        if c.key == "name":
            c = Column("name", "RUNNER", name_width)
        elif c.key == "alerts" and rest > name_width:
            c = Column("alerts", c.title, c.width + rest - name_width)
        out.append(c)
    return tuple(out)


def shows_percent(columns: Sequence[Column]) -> bool:
    return next(c for c in columns if c.key == "cpu").width >= 9


class StateHistory:
    """When each runner's state last changed, as seen across snapshots.

    A runner first seen has no known change time (GitHub does not say); only a change
    observed while watching gets a time.
    """

    def __init__(self) -> None:
        self._seen: dict[int, tuple[RunnerState, float | None]] = {}

    def observe(self, snapshot: FleetSnapshot) -> None:
        seen = self._seen
        for row in snapshot.rows:
            rid = row.runner.id
            state = row.state
            before = seen.get(rid)
            if before is None:
                seen[rid] = (state, None)
            elif before[0] != state:
                seen[rid] = (state, snapshot.taken_at)
        if len(seen) > len(snapshot.rows):
            alive = {r.runner.id for r in snapshot.rows}
            for rid in [k for k in seen if k not in alive]:
                del seen[rid]

    def changed_at(self, runner_id: int) -> float | None:
        entry = self._seen.get(runner_id)
        return None if entry is None else entry[1]


def ratio_percent(value: float | None) -> int | None:
    if value is None:
        return None
    return max(0, min(100, round(value * 100)))


def _metric_cell(value: float | None, with_percent: bool) -> tuple[int, int] | None:
    # Quantised to what the screen can show, so that noise below a bar step repaints nothing.
    percent = ratio_percent(value)
    if percent is None:
        return None
    level = round(percent * BAR_CELLS * 8 / 100)
    return (level, percent if with_percent else -1)


def pool_text(row: FleetRow) -> str:
    extra = [label for label in row.runner.custom_labels if label != row.pool]
    text = row.pool if not extra else f"{row.pool} {','.join(extra)}"
    return one_line(text, limit=60)


def alerts_cell(row: FleetRow) -> tuple[int, str, str] | None:
    if not row.alerts:
        return None
    worst = min(row.alerts, key=lambda a: SEVERITY_RANK.get(a.severity, 9))
    return (len(row.alerts), one_line(worst.name, limit=60), worst.severity)


def row_key(row: FleetRow) -> str:
    return f"r{row.runner.id}"


def group_key(pool: str) -> str:
    return f"g{pool}"


def sort_key(column: str, row: FleetRow, changed_at: float | None) -> tuple:
    """Order within a column; missing values always last, ties broken by name."""
    name = row.name.lower()
    h = row.health
    if column == "state":
        return (STATE_RANK[row.state], name)
    if column == "pool":
        return (row.pool.lower(), name)
    if column == "version":
        version = row.runner.version
        parts = tuple(int(p) if p.isdigit() else 0 for p in (version or "").split("."))
        return (version is None, parts, name)
    if column in ("cpu", "mem", "disk"):
        value = None
        if h is not None:
            value = {"cpu": h.cpu_busy, "mem": h.memory_used, "disk": h.disk_used}[column]
        # Highest first: the busiest host is the one to look at.
        return (value is None, -(value or 0.0), name)
    if column == "alerts":
        worst = min((SEVERITY_RANK.get(a.severity, 9) for a in row.alerts), default=9)
        return (not row.alerts, worst, -len(row.alerts), name)
    if column == "since":
        # Most recent change first.
        return (changed_at is None, -(changed_at or 0.0), name)
    return (name,)


@dataclass(frozen=True)
class SortOrder:
    column: str = "name"
    reverse: bool = False

    def next(self, step: int = 1) -> SortOrder:
        i = SORT_COLUMNS.index(self.column)
        return SortOrder(SORT_COLUMNS[(i + step) % len(SORT_COLUMNS)], False)

    def flipped(self) -> SortOrder:
        return SortOrder(self.column, not self.reverse)


Cells = tuple  # one plain, hashable value per column


class FleetView:
    """Turns a snapshot into ordered, keyed rows of plain cell values for the table."""

    def __init__(self) -> None:
        self.history = StateHistory()
        self.filter = FleetFilter("")
        self.sort = SortOrder()
        self.grouped = False
        self.shown = 0  # runners kept by the filter
        self.total = 0
        # runner id -> (the row it was computed from, columns, cells without `since`)
        self._cache: dict[int, tuple[FleetRow, tuple[Column, ...], tuple]] = {}

    def observe(self, snapshot: FleetSnapshot) -> None:
        self.history.observe(snapshot)

    def _base_cells(self, row: FleetRow, columns: tuple[Column, ...]) -> tuple:
        cached = self._cache.get(row.runner.id)
        if cached is not None and cached[1] is columns and cached[0] == row:
            return cached[2]
        with_percent = shows_percent(columns)
        h = row.health
        values = {
            "state": row.state,
            "name": one_line(row.name, limit=100),
            "pool": pool_text(row),
            "version": one_line(row.runner.version or "–", limit=20),
            "cpu": _metric_cell(h.cpu_busy if h else None, with_percent),
            "mem": _metric_cell(h.memory_used if h else None, with_percent),
            "disk": _metric_cell(h.disk_used if h else None, with_percent),
            "alerts": alerts_cell(row),
        }
        cells = tuple(values.get(c.key) for c in columns)
        self._cache[row.runner.id] = (row, columns, cells)
        return cells

    def rows(
        self, snapshot: FleetSnapshot, now: float, columns: tuple[Column, ...]
    ) -> list[tuple[str, Cells]]:
        """The table's rows, in order: (row key, cells). Group rows start with None."""
        since_at = next(i for i, c in enumerate(columns) if c.key == "since")
        kept = [r for r in snapshot.rows if self.filter.keeps(r)]
        self.shown, self.total = len(kept), len(snapshot.rows)
        changed = self.history.changed_at
        column = self.sort.column
        kept.sort(
            key=lambda r: sort_key(column, r, changed(r.runner.id)), reverse=self.sort.reverse
        )
        if len(self._cache) > 2 * max(len(snapshot.rows), 100):
            self._cache.clear()

        def runner_row(r: FleetRow) -> tuple[str, Cells]:
            cells = list(self._base_cells(r, columns))
            at = changed(r.runner.id)
            cells[since_at] = age_text(now - at) if at is not None else "–"
            return row_key(r), tuple(cells)

        if not self.grouped:
            return [runner_row(r) for r in kept]
        pools: dict[str, list[FleetRow]] = {}
        for r in kept:
            pools.setdefault(r.pool, []).append(r)
        out: list[tuple[str, Cells]] = []
        for pool in sorted(pools, key=str.lower):
            members = pools[pool]
            out.append((group_key(pool), group_cells(pool, members, columns)))
            out.extend(runner_row(r) for r in members)
        return out


def group_cells(pool: str, members: Iterable[FleetRow], columns: Sequence[Column]) -> Cells:
    """A pool's header row: its name, size and how many of its runners are down."""
    members = list(members)
    down = sum(1 for r in members if r.state in (RunnerState.OFFLINE, RunnerState.ORPHAN))
    values = {
        "state": ("group",),
        "name": ("group", one_line(pool, limit=60)),
        "pool": ("group", f"{len(members)} runners"),
        "alerts": ("group", f"{down} down" if down else ""),
    }
    return tuple(values.get(c.key, ("group", "")) for c in columns)
