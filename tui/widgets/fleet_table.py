"""The fleet table: one row per runner, repainting only the cells that changed.

`show()` takes ordered rows of plain cell values (from `tui.screens.fleet_rows`) and
compares them with what is on screen: same rows in the same order -> update the changed
cells and repaint just their rows; same rows in another order -> re-sort; otherwise
rebuild. Every cell draws as a rich Text built from already-safe strings, never markup.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from tui.keys import OPEN
from tui.model import RunnerState
from tui.screens.fleet_rows import BAR_CELLS, STATE_SYMBOL, Cells, Column, shows_percent
from tui.theme import SEVERITY_STYLE, STATE_STYLE
from tui.widgets.bars import usage_bar


class Cell:
    """One cell, turned into styled text only when drawn: a 2,000-runner table draws about
    20 rows, so building text for the other 1,980 at every rebuild would be wasted.

    The row key rides along so a re-sort needs no lookup table.
    """

    __slots__ = ("_text", "column", "row_key", "show_percent", "value")

    def __init__(self, column: Column, value: Any, row_key: str, show_percent: bool) -> None:
        self.column = column
        self.value = value
        self.row_key = row_key
        self.show_percent = show_percent
        self._text: Text | None = None

    def __rich__(self) -> Text:
        if self._text is None:
            self._text = render_cell(self.column, self.value, show_percent=self.show_percent)
        return self._text

    @property
    def plain(self) -> str:
        return self.__rich__().plain


def _fit(text: Text, width: int) -> Text:
    # One cell of every column stays blank: the gap between columns.
    text.truncate(max(1, width - 1), overflow="ellipsis")
    return text


def render_cell(column: Column, value: Any, *, show_percent: bool) -> Text:
    """The styled text for one cell value."""
    if isinstance(value, tuple) and value and value[0] == "group":
        label = value[1] if len(value) > 1 else ""
        style = "bold" if column.key in ("name", "state") else "italic"
        return _fit(Text("▾" if column.key == "state" else label, style=style), column.width)
    key = column.key
    if key == "state":
        state = RunnerState(value)
        return _fit(
            Text(f"{STATE_SYMBOL[state]} {state.value}", style=STATE_STYLE[state]), column.width
        )
    if key in ("cpu", "mem", "disk"):
        if value is None:
            return Text("–", style="bright_black")
        level, percent = value
        return usage_bar(level, percent, BAR_CELLS, show_percent=show_percent)
    if key == "alerts":
        if value is None:
            return Text("–", style="bright_black")
        count, name, severity = value
        return _fit(Text(f"{count} {name}", style=SEVERITY_STYLE.get(severity, "")), column.width)
    if key == "since":
        text = Text(str(value), justify="right")
        text.pad_right(1)
        return text
    return _fit(Text(str(value)), column.width)


class FleetTable(DataTable):
    """The runner table. `show()` returns what it had to do: none, cells, reorder, rebuild."""

    BINDINGS: ClassVar[list[BindingType]] = [OPEN]

    DEFAULT_CSS = """
    FleetTable { height: 1fr; scrollbar-size-vertical: 1; }
    FleetTable > .datatable--header { text-style: bold; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", cell_padding=0, zebra_stripes=False, **kwargs)
        self._layout: tuple[Column, ...] = ()
        self._order: list[str] = []
        self._cells: dict[str, Cells] = {}
        self._sort_mark: tuple[str, bool] | None = None
        self.cells_updated = 0  # for the benchmark and tests: cells repainted by the last show()

    @property
    def order(self) -> list[str]:
        return list(self._order)

    def highlighted_key(self) -> str | None:
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return key

    def set_sort_mark(self, column: str, reverse: bool) -> None:
        if self._sort_mark == (column, reverse):
            return
        self._sort_mark = (column, reverse)
        for c in self._layout:
            label = Text(c.title, style="bold")
            if c.key == column:
                label.append("▼" if reverse else "▲")
            self.columns[ColumnKey(c.key)].label = label
        self.refresh()

    def show(self, columns: tuple[Column, ...], rows: Sequence[tuple[str, Cells]]) -> str:
        keys = [k for k, _ in rows]
        if columns != self._layout:
            self._rebuild(columns, rows, new_columns=True)
            return "rebuild"
        if keys == self._order:
            return "cells" if self._update_cells(rows) else "none"
        if len(keys) == len(self._order) and set(keys) == set(self._cells):
            self._update_cells(rows)
            self._reorder(keys)
            return "reorder"
        self._rebuild(columns, rows, new_columns=False)
        return "rebuild"

    def _render_row(self, key: str, cells: Cells) -> list[Cell]:
        show_percent = shows_percent(self._layout)
        return [Cell(c, v, key, show_percent) for c, v in zip(self._layout, cells, strict=True)]

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # DataTable measures every cell of every new row to size auto-width columns: 0.4 s
        # for 2,000 runners. Here every column has a fixed width and every row one line, so
        # the scrollable size follows from the counts alone. (textual is pinned exactly.)
        header = self.header_height if self.show_header else 0
        width = sum(column.get_render_width(self) for column in self.columns.values())
        self.virtual_size = Size(width, self.row_count + header)

    def _rebuild(
        self, columns: tuple[Column, ...], rows: Sequence[tuple[str, Cells]], *, new_columns: bool
    ) -> None:
        keep = self.highlighted_key()
        self.clear(columns=new_columns)
        self._layout = columns
        if new_columns:
            self._sort_mark = None
            for c in columns:
                self.add_column(Text(c.title, style="bold"), width=c.width, key=c.key)
        self._cells = {}
        for key, cells in rows:
            self.add_row(*self._render_row(key, cells), key=key)
            self._cells[key] = cells
        self._order = [k for k, _ in rows]
        self.cells_updated = len(rows) * len(columns)
        self._restore_cursor(keep)

    def _update_cells(self, rows: Sequence[tuple[str, Cells]]) -> bool:
        """Store changed cells and repaint only their rows; True when anything changed."""
        show_percent = shows_percent(self._layout)
        dirty: list[str] = []
        updated = 0
        data = self._data  # DataTable's own store; textual is pinned, see pyproject
        for key, cells in rows:
            before = self._cells.get(key)
            if before == cells:
                continue
            row = data[RowKey(key)]
            for i, (column, value) in enumerate(zip(self._layout, cells, strict=True)):
                if before is not None and before[i] == value:
                    continue
                row[ColumnKey(column.key)] = Cell(column, value, key, show_percent)
                updated += 1
            self._cells[key] = cells
            dirty.append(key)
        self.cells_updated = updated
        if not dirty:
            return False
        # DataTable.update_cell repaints the whole table; invalidating its caches once and
        # repainting only the changed rows keeps a refresh to a few hundred bytes.
        self._update_count += 1
        for key in dirty:
            self.refresh_row(self.get_row_index(key))
        return True

    def _reorder(self, keys: list[str]) -> None:
        keep = self.highlighted_key()
        position = {k: i for i, k in enumerate(keys)}
        first = self._layout[0].key
        self.sort(first, key=lambda cell: position[cell.row_key])
        self._order = keys
        self._restore_cursor(keep)

    def _restore_cursor(self, key: str | None) -> None:
        if key is not None and key in self._cells:
            self.move_cursor(row=self.get_row_index(key), animate=False)
