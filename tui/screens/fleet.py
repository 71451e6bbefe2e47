"""The fleet screen: every runner, its state, host health and alerts; filter, sort, group.

The first screen and the base of the stack. It redraws from the app's snapshot; the
table repaints only the cells that changed.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input

from tui.keys import FLEET_KEYS, TYPED_ACTIONS
from tui.model import FleetSnapshot, SourceStatus
from tui.screens.fleet_filter import FilterError, FleetFilter
from tui.screens.fleet_rows import FleetView, columns_for
from tui.widgets.fleet_header import (
    FleetHeader,
    HeaderLine,
    pools_line,
    sources_line,
    summary_line,
    totals_line,
)
from tui.widgets.fleet_table import FleetTable
from tui.widgets.steady_input import SteadyInput

FILTER_HINT = "regex  state:offline  label:gpu  pool:NAME  !negates"


class FleetScreen(Screen):
    BINDINGS = FLEET_KEYS
    DEFAULT_CSS = """
    FleetScreen #bar { height: 1; background: $panel; padding: 0 1; }
    FleetScreen #filter { display: none; border: none; height: 1; padding: 0; width: 1fr;
                          background: $panel; }
    FleetScreen #bar.-editing #filter { display: block; }
    FleetScreen #bar.-editing #status { width: auto; max-width: 40; }
    FleetScreen #status { width: 1fr; height: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.view = FleetView()
        self.last_change = "none"  # what the table did on the last redraw
        self._filter_error: str | None = None
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield FleetHeader()
        yield FleetTable(id="fleet")
        with Horizontal(id="bar"):
            yield SteadyInput(id="filter", placeholder=FILTER_HINT, compact=True)
            yield HeaderLine(id="status")
        yield Footer()

    def on_mount(self) -> None:
        app = self.app
        self.view.history = app.history
        app.fleet_updated.subscribe(self, self._on_fleet)
        self.query_one(FleetTable).focus()
        self.redraw()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TYPED_ACTIONS and isinstance(self.focused, Input):
            return False  # `/` in the filter is part of a regex
        return True

    def _on_fleet(self, snapshot: FleetSnapshot) -> None:
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    def redraw(self) -> None:
        app = self.app
        snapshot: FleetSnapshot | None = app.snapshot
        now = app.now()
        header = self.query_one(FleetHeader)
        scope = str(app.settings.scope) if app.settings.scope else "no scope"
        header.set_line("summary", summary_line(snapshot, scope, app.read_only, now))
        header.set_line("totals", totals_line(snapshot))
        header.set_line("pools", pools_line(snapshot))
        header.set_line("sources", sources_line(snapshot, now, self._extra_sources()))
        table = self.table
        width = table.size.width or self.size.width or 80
        columns = columns_for(width - 1)  # one cell for the scrollbar
        if snapshot is not None:
            self.last_change = table.show(columns, self.view.rows(snapshot, now, columns))
            table.set_sort_mark(self.view.sort.column, self.view.sort.reverse)
        self._show_status()

    def _extra_sources(self) -> list[SourceStatus]:
        # Logs are asked for per runner, not polled: the header only says when there are none.
        if self.app.log_source is None:
            return [SourceStatus("logs", ok=False, updated_at=None, configured=False)]
        return []

    def _show_status(self) -> None:
        status = Text(no_wrap=True, overflow="ellipsis", end="")
        if self._filter_error:
            status.append(self._filter_error, style="bold red")
        else:
            view = self.view
            if view.filter:
                status.append(f"{view.shown} of {view.total}", style="bold")
            else:
                status.append("/ filter", style="bright_black")
            arrow = "▼" if view.sort.reverse else "▲"
            status.append(f" · sort {view.sort.column}{arrow}")
            if view.grouped:
                status.append(" · by pool")
        self.query_one("#status", HeaderLine).show(status)

    # ----- filter -----------------------------------------------------------------------

    def action_filter(self) -> None:
        # Focus moves at once (not after a refresh, as .focus() does), so keys typed right
        # after `/` go to the filter, not to the table's own bindings.
        self.query_one("#bar").add_class("-editing")
        self.set_focus(self.query_one("#filter", Input))

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or self.view.filter or self._filter_error:
            box.value = ""
            self._apply_filter("")
        self.query_one("#bar").remove_class("-editing")
        self.set_focus(self.table)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        if self._debounce is not None:
            self._debounce.stop()
        # Filtering a big fleet on every keystroke would lag; wait for a pause in typing.
        value = event.value
        self._debounce = self.set_timer(0.15, lambda: self._apply_filter(value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        if self._debounce is not None:
            self._debounce.stop()
        self._apply_filter(event.value)
        if not event.value:
            self.query_one("#bar").remove_class("-editing")
        self.set_focus(self.table)

    def _apply_filter(self, text: str) -> None:
        try:
            self.view.filter = FleetFilter.parse(text)
            self._filter_error = None
        except FilterError as e:
            self._filter_error = str(e)
        self.redraw()

    def set_filter(self, text: str) -> None:
        box = self.query_one("#filter", Input)
        box.value = text
        self.query_one("#bar").set_class(bool(text), "-editing")
        self._apply_filter(text)

    # ----- sort, group, open ------------------------------------------------------------

    def action_sort(self, step: int) -> None:
        self.view.sort = self.view.sort.next(step)
        self.redraw()

    def action_sort_reverse(self) -> None:
        self.view.sort = self.view.sort.flipped()
        self.redraw()

    def action_group(self) -> None:
        self.view.grouped = not self.view.grouped
        self.redraw()

    def action_open(self) -> None:
        key = self.table.highlighted_key()
        if key is not None:
            self._open(key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(event.row_key.value or "")

    def _open(self, key: str) -> None:
        if key.startswith("g"):
            # A pool's header row: show only that pool.
            self.set_filter(f"pool:{re.escape(key[1:])}")
        elif key.startswith("r"):
            self.app.open_runner(int(key[1:]))
