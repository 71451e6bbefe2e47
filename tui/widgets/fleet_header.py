"""The fleet header: scope and budget, runners per state, per pool, and each source's freshness.

Four one-line Statics, each repainted only when its own text changes, so an unchanged
fleet costs one short line per refresh (the data ages), not the whole header.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.model import FleetSnapshot, RunnerState
from tui.screens.fleet_rows import STATE_SYMBOL
from tui.text import one_line
from tui.theme import STATE_STYLE
from tui.widgets.freshness import age_text, clock_text, source_note

# What each polled source feeds on the fleet screen, named in its note when it is down.
FEEDS = {"github": "runners", "prometheus": "CPU/MEM/DISK", "alertmanager": "ALERTS"}
UNSET = {
    "github": "no GitHub scope: set [github] org, repo or enterprise",
    "prometheus": "no host metrics: set [prometheus] url",
    "alertmanager": "no alerts: set [alertmanager] url",
}


def summary_line(snapshot: FleetSnapshot | None, scope: str, read_only: bool, now: float) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    out.append("runnerdoc", style="bold")
    out.append(f" · {one_line(scope, limit=60)}")
    if read_only:
        out.append(" · ")
        out.append("READ-ONLY", style="bold reverse")
    queued = "–" if snapshot is None or snapshot.queued_jobs is None else str(snapshot.queued_jobs)
    out.append(f" · queued {queued}")
    rate = snapshot.rate_limit if snapshot else None
    if rate is None:
        out.append(" · API –")
    else:
        low = rate.limit and rate.remaining / rate.limit < 0.1
        out.append(" · API ")
        out.append(f"{rate.remaining}/{rate.limit}", style="bold red" if low else "")
        if rate.reset > now:
            out.append(f" resets {clock_text(rate.reset)}", style="bright_black")
    return out


def _state_counts(out: Text, counts: dict[RunnerState, int], *, words: bool) -> None:
    for state in (RunnerState.IDLE, RunnerState.ACTIVE, RunnerState.OFFLINE, RunnerState.ORPHAN):
        n = counts.get(state, 0)
        if not n and not words:
            continue
        label = f"{STATE_SYMBOL[state]}{n}" + (f" {state.value}" if words else "")
        out.append(" ")
        out.append(label, style=STATE_STYLE[state] if n else "bright_black")


def totals_line(snapshot: FleetSnapshot | None) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    if snapshot is None:
        out.append("waiting for the first refresh…", style="italic")
        return out
    totals: dict[RunnerState, int] = dict.fromkeys(RunnerState, 0)
    for r in snapshot.rows:
        totals[r.state] += 1
    out.append(f"{len(snapshot.rows)} runners", style="bold")
    _state_counts(out, totals, words=True)
    firing = len(snapshot.alerts)
    out.append(" · ")
    plural = "" if firing == 1 else "s"
    out.append(f"{firing} alert{plural} firing", style="bold red" if firing else "")
    return out


def pools_line(snapshot: FleetSnapshot | None) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    if snapshot is None:
        return out
    for i, (pool, counts) in enumerate(sorted(snapshot.counts().items())):
        if i:
            out.append(" │ ", style="bright_black")
        out.append(one_line(pool, limit=40), style="bold")
        out.append(f" {sum(counts.values())}")
        _state_counts(out, counts, words=False)
    return out


def sources_line(snapshot: FleetSnapshot | None, now: float, extra=()) -> Text:
    """Each source's data age, or what is wrong with it. `extra`: (name, SourceStatus)."""
    out = Text(end="")
    statuses = list(snapshot.sources) if snapshot else []
    statuses += list(extra)
    for i, status in enumerate(statuses):
        if i:
            out.append(" · ", style="bright_black")
        if not status.configured:
            out.append(f"{status.name} –", style="bright_black")
            continue
        note = source_note(status, now)
        if note is None:
            out.append(f"{status.name} {age_text(status.age(now))}")
        else:
            feeds = FEEDS.get(status.name)
            out.append(f"{feeds}: {note}" if feeds else note, style="bold red")
    return out


class HeaderLine(Static):
    """A line of the header that repaints only when its text changes."""

    def __init__(self, **kwargs) -> None:
        super().__init__(markup=False, **kwargs)
        self._shown: tuple | None = None

    def show(self, text: Text) -> None:
        # Static.update repaints even when nothing changed; compare first.
        shown = (text.plain, tuple(text.spans))
        if shown != self._shown:
            self._shown = shown
            self.update(text)


class FleetHeader(Vertical):
    DEFAULT_CSS = """
    FleetHeader { height: auto; padding: 0 1; background: $panel; }
    FleetHeader > HeaderLine { height: 1; }
    FleetHeader > #sources { height: auto; max-height: 3; }
    """

    def compose(self) -> ComposeResult:
        for name in ("summary", "totals", "pools", "sources"):
            yield HeaderLine(id=name)

    def set_line(self, name: str, text: Text) -> None:
        self.query_one(f"#{name}", HeaderLine).show(text)
