"""How old data is, in few characters: ages, clock times and a failing source's note.

Pure functions (no Textual), shared by every panel that shows data from a source.
"""

from __future__ import annotations

import time

from tui.model import SourceStatus


def age_text(seconds: float | None) -> str:
    """`45s`, `12m`, `3h`, `2d`; `–` when unknown. Coarse on purpose: fewer repaints."""
    if seconds is None:
        return "–"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def clock_text(epoch: float) -> str:
    """Local wall-clock time, HH:MM:SS, as the on-call's other tools show it."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def source_note(status: SourceStatus | None, now: float, *, unset: str = "") -> str | None:
    """What a panel says about its source when the data is not live, else None.

    Down: `unavailable since HH:MM:SS (last data 95s old)`; never answered:
    `unavailable since HH:MM:SS (no data yet)`; not configured: `unset`.
    """
    if status is None or not status.configured:
        return unset or None
    if status.ok:
        return None
    since = clock_text(status.failing_since) if status.failing_since else "start"
    age = status.age(now)
    if age is None:
        return f"{status.name} unavailable since {since} (no data yet)"
    return f"{status.name} unavailable since {since} (last data {int(age)}s old)"


class SourceTracker:
    """Freshness of a source asked on demand (Loki logs, range queries), as a SourceStatus.

    The fleet collector does this for the sources it polls; panels that query by
    themselves keep their last good data and record failures here.
    """

    def __init__(self, name: str, clock=time.time, *, configured: bool = True) -> None:
        self.name = name
        self.clock = clock
        self.configured = configured
        self.updated_at: float | None = None
        self.error: str | None = None
        self.failing_since: float | None = None

    def ok(self) -> None:
        self.updated_at = self.clock()
        self.error = self.failing_since = None

    def failed(self, error: str) -> None:
        self.error = error
        self.failing_since = self.failing_since or self.clock()

    @property
    def status(self) -> SourceStatus:
        return SourceStatus(
            name=self.name,
            ok=self.error is None and self.configured,
            updated_at=self.updated_at,
            error=self.error,
            failing_since=self.failing_since,
            configured=self.configured,
        )

    def note(self, *, unset: str = "") -> str | None:
        return source_note(self.status, self.clock(), unset=unset)
