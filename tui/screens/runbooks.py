"""The runbook browser: the list, and one runbook rendered as the site renders it.

The page is `tui.runbooks.publish.runbook_page`, the same Markdown the site builds, shown
with Textual's Markdown widget.
"""

from __future__ import annotations

import html
import re

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Markdown, Static

from tui.keys import RUNBOOKS_KEYS
from tui.runbooks.publish import SEVERITY_ORDER, runbook_page
from tui.theme import SEVERITY_STYLE
from tui.widgets.list_table import ListTable

_HTML_LINE = re.compile(r"^<p\b[^>]*>(.*)</p>$")
_TAG = re.compile(r"<[^>]+>")


def terminal_markdown(page: str) -> str:
    """The site's page with its one-line HTML paragraphs (the step badges: kind, where it
    runs, timeout) turned into italic text, which Textual's Markdown would otherwise drop."""
    out = []
    for line in page.split("\n"):
        m = _HTML_LINE.match(line.strip())
        out.append(f"*{html.unescape(_TAG.sub('', m.group(1)))}*" if m else line)
    return "\n".join(out)


class RunbookListScreen(Screen):
    BINDINGS = RUNBOOKS_KEYS
    DEFAULT_CSS = """
    RunbookListScreen #runbooks-head { height: 1; padding: 0 1; background: $panel; }
    RunbookListScreen DataTable { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static(Text("Runbooks", style="bold"), id="runbooks-head")
        yield ListTable(id="runbook-list", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for title, key in (("SEVERITY", "sev"), ("FIX IN", "ttr"), ("RUNBOOK", "title"),
                           ("ANSWERS", "alerts")):  # fmt: skip
            table.add_column(Text(title, style="bold"), key=key)
        runbooks = sorted(
            self.app.runbooks.values(), key=lambda r: (SEVERITY_ORDER[r.severity], r.title)
        )
        for r in runbooks:
            table.add_row(
                Text(r.severity, style=SEVERITY_STYLE.get(r.severity, "")),
                Text(r.time_to_remediate),
                Text(r.title, style="bold"),
                Text(", ".join(r.alerts) or "–"),
                key=r.id,
            )
        table.focus()

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if key:
                self.app.open_runbook(key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value:
            self.app.open_runbook(event.row_key.value)

    def action_back(self) -> None:
        self.app.pop_screen()


class RunbookScreen(Screen):
    BINDINGS = RUNBOOKS_KEYS[:1]
    DEFAULT_CSS = """
    RunbookScreen #runbook-head { height: 1; padding: 0 1; background: $panel; }
    RunbookScreen #page { height: 1fr; padding: 0 1; }
    """

    def __init__(self, runbook_id: str) -> None:
        super().__init__()
        self.runbook_id = runbook_id

    def compose(self) -> ComposeResult:
        runbook = self.app.runbooks[self.runbook_id]
        head = Text(no_wrap=True, overflow="ellipsis", end="")
        head.append(runbook.title, style="bold")
        head.append(f" · {runbook.severity} · fix in {runbook.time_to_remediate}")
        head.append(f" · docs/runbooks/{runbook.id}.md", style="bright_black")
        yield Static(head, id="runbook-head")
        page = terminal_markdown(runbook_page(runbook.body, runbook, self.app.signatures))
        with VerticalScroll(id="page"):
            yield Markdown(page, id="runbook-page")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#page").focus()

    def action_back(self) -> None:
        self.app.pop_screen()
