"""A text input whose cursor does not blink: a blinking cursor repaints twice a second,
which is wasted bytes on a slow SSH link."""

from __future__ import annotations

from typing import Any

from textual.widgets import Input


class SteadyInput(Input):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.set_reactive(Input.cursor_blink, False)
