"""`?`: the keys that work on the screen underneath, read from its active bindings.

Generated, not written: a key remapped in `[keys]` shows its new key, and an action
hidden by read-only mode is not listed.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

NAMES = {
    "FleetScreen": "fleet",
    "RunnerScreen": "runner",
    "AlertsScreen": "alerts",
    "RunbookListScreen": "runbooks",
    "RunbookScreen": "runbook",
    "QueryScreen": "queries",
}


def help_rows(screen: Screen) -> list[tuple[str, str, str]]:
    """(key, what it does, where it works) for every active binding with a description."""
    app = screen.app
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        # Only runnerdoc's own keys (they have ids): Textual's focus and copy keys are noise here.
        if not binding.description or binding.system or binding.id is None:
            continue
        node = active.node
        if node is app:
            where = "everywhere"
        elif node is screen:
            where = NAMES.get(type(screen).__name__, "this screen")
        else:
            where = "list" if type(node).__name__.endswith("Table") else type(node).__name__
        shown = app.get_key_display(binding) if binding.key == key else key
        if (shown, binding.description) in seen:
            continue
        seen.add((shown, binding.description))
        rows.append((shown, binding.description, where))
    # This screen's own keys first, then the list's, then the ones that work everywhere.
    order = {"list": 1, "everywhere": 2}
    rows.sort(key=lambda r: (order.get(r[2], 0), r[1]))
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="close-help"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 64; max-width: 100%; height: 90%; border: round $primary;
                            background: $surface; }
    HelpScreen #help-title { height: 1; padding: 0 1; text-style: bold; }
    HelpScreen DataTable { height: 1fr; }
    """

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under
        self.rows = help_rows(under)

    def compose(self) -> ComposeResult:
        with Vertical():
            name = NAMES.get(type(self.under).__name__, "this screen")
            yield Static(Text(f"Keys on the {name} screen  (Esc closes)"), id="help-title")
            yield DataTable(id="help-keys", cursor_type="row", show_cursor=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(Text("KEY", style="bold"), key="key")
        table.add_column(Text("DOES", style="bold"), key="does")
        table.add_column(Text("WHERE", style="bold"), key="where")
        for key, does, where in self.rows:
            table.add_row(Text(key, style="bold"), Text(does), Text(where, style="bright_black"))
        table.focus()
