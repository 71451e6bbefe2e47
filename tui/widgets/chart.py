"""Line charts drawn by plotext into a Static, as dolphie does (`Text.from_ansi(plt.build())`).

Only plotext's own output goes through `Text.from_ansi`; series labels and notes from
outside are made safe before plotext sees them. Percent charts use a fixed 0-100 scale
with a threshold line, so two hosts' charts compare at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import plotext as plt
from rich.text import Text
from textual.widgets import Static

from tui.text import one_line
from tui.widgets.freshness import clock_text

COLORS = ("cyan", "green", "yellow", "magenta", "blue", "red")
MAX_SERIES = 6


@dataclass(frozen=True)
class ChartSeries:
    label: str
    points: tuple[tuple[float, float], ...]  # (epoch seconds, value in chart units)


class Chart(Static):
    """A plotext chart that redraws on resize. `percent=True`: 0-100 with a threshold line."""

    DEFAULT_CSS = """
    Chart { height: 1fr; width: 1fr; min-height: 5; border: round $panel-lighten-2; padding: 0; }
    Chart.-stale { border: round $error; }
    """

    def __init__(
        self,
        title: str,
        *,
        percent: bool = True,
        threshold: float | None = 90.0,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes, markup=False)
        self.chart_title = title
        self.percent = percent
        self.threshold = threshold if percent else None
        self.series: tuple[ChartSeries, ...] = ()
        self.start = 0.0
        self.end = 0.0
        self.note: str | None = None
        self.border_title = Text(title)
        self._drawn_for: tuple | None = None

    def set_series(self, series: Sequence[ChartSeries], start: float, end: float) -> None:
        self.series = tuple(series)[:MAX_SERIES]
        self.start, self.end = start, end
        self._draw()

    def set_note(self, note: str | None) -> None:
        """Why the data is old or missing: the chart itself when there is no data, else a
        red border marked "stale" (the panel around it spells the note out in full)."""
        self.note = one_line(note, limit=200) if note else None
        stale = bool(self.note) and bool(self.series)
        self.set_class(stale, "-stale")
        self.border_subtitle = Text("stale", style="bold") if stale else None
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        width, height = self.content_size.width, self.content_size.height
        key = (width, height, self.series, self.start, self.end, self.note)
        if width < 20 or height < 3 or key == self._drawn_for:
            return
        self._drawn_for = key
        if not self.series:
            message = self.note or "no data"
            self.update(Text(message, style="italic", justify="center"))
            return
        self.update(Text.from_ansi(self._plot(width, height), no_wrap=True))

    def _plot(self, width: int, height: int) -> str:
        plt.clf()
        plt.plotsize(width, height)
        plt.theme("clear")
        span = max(self.end - self.start, 1.0)
        in_hours = span > 3 * 3600
        unit = 3600.0 if in_hours else 60.0
        for i, s in enumerate(self.series):
            xs = [(t - self.end) / unit for t, _ in s.points]
            ys = [v for _, v in s.points]
            if not xs:
                continue
            label = one_line(s.label, limit=30) if len(self.series) > 1 else None
            plt.plot(xs, ys, marker="hd", color=COLORS[i % len(COLORS)], label=label)
        if self.threshold is not None:
            plt.hline(self.threshold, "red")
        if self.percent:
            plt.ylim(0, 100)
            plt.yticks([0, 50, 90, 100] if height >= 6 else [0, 100])
        left = -span / unit
        plt.xlim(left, 0)
        ticks = [left, left / 2, 0.0] if width >= 40 else [left, 0.0]
        plt.xticks(ticks, [clock_text(self.end + t * unit)[:5] for t in ticks])
        return plt.build()
