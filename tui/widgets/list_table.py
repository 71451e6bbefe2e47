"""A row-cursor table whose Enter is runnerdoc's remappable "open" key."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import BindingType
from textual.widgets import DataTable

from tui.keys import OPEN


class ListTable(DataTable):
    BINDINGS: ClassVar[list[BindingType]] = [OPEN]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        super().__init__(**kwargs)
