"""Firing alerts from the snapshot, grouped by severity and alert name.

Enter opens the alert's runbook; `s` asks for and creates a silence (not in read-only
mode). When Alertmanager is down the last alerts stay, marked with its note.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tui.keys import ALERTS_KEYS, WRITE_ACTIONS
from tui.model import Alert, FleetSnapshot
from tui.screens.fleet_rows import SEVERITY_RANK
from tui.screens.silence import ask_and_silence
from tui.text import one_line
from tui.theme import SEVERITY_STYLE
from tui.widgets.freshness import age_text, source_note
from tui.widgets.list_table import ListTable


def alert_groups(alerts: tuple[Alert, ...]) -> list[tuple[str, str, list[Alert]]]:
    """(severity, alert name, alerts), most severe first, then by name."""
    groups: dict[tuple[str, str], list[Alert]] = {}
    for alert in alerts:
        groups.setdefault((alert.severity, alert.name), []).append(alert)
    ordered = sorted(groups, key=lambda k: (SEVERITY_RANK.get(k[0], 9), k[1]))
    return [(sev, name, sorted(groups[(sev, name)], key=lambda a: a.runner or "")) for sev, name
            in ordered]  # fmt: skip


def where(alert: Alert) -> str:
    return alert.runner or alert.label("instance") or alert.label("pool") or "–"


class AlertsScreen(Screen):
    BINDINGS = ALERTS_KEYS
    DEFAULT_CSS = """
    AlertsScreen #alerts-head { height: auto; padding: 0 1; background: $panel; }
    AlertsScreen DataTable { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._alerts: dict[str, Alert] = {}  # row key -> alert (None for group rows)
        self._groups: dict[str, str] = {}  # group row key -> alert name
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="alerts-head", markup=False)
        yield ListTable(id="alerts", cursor_type="row", cell_padding=1)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for title, key in (("ALERT", "alert"), ("RUNNER/HOST", "where"), ("SUMMARY", "summary"),
                           ("FOR", "for")):  # fmt: skip
            table.add_column(Text(title, style="bold"), key=key)
        self.app.fleet_updated.subscribe(self, self._on_fleet)
        table.focus()
        self.redraw()

    def _on_fleet(self, snapshot: FleetSnapshot) -> None:
        self.redraw()

    def redraw(self) -> None:
        app = self.app
        snapshot: FleetSnapshot | None = app.snapshot
        now = app.now()
        alerts = snapshot.alerts if snapshot else ()
        head = Text(no_wrap=True, overflow="ellipsis", end="")
        head.append("Firing alerts", style="bold")
        head.append(f" · {len(alerts)}")
        status = snapshot.source("alertmanager") if snapshot else None
        note = source_note(status, now, unset="no alert source: set [alertmanager] url")
        if note:
            head.append("\n")
            head.append(note, style="bold red")
        self.query_one("#alerts-head", Static).update(head)
        table = self.query_one(DataTable)
        shown = tuple((a.fingerprint, a.name, a.severity, a.summary, a.labels) for a in alerts)
        if shown == self._shown:
            for key, alert in self._alerts.items():  # only the ages move
                if alert.starts_at:
                    table.update_cell(key, "for", Text(age_text(now - alert.starts_at)))
            return
        self._shown = shown
        keep = None
        if table.row_count:
            keep = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        self._alerts.clear()
        self._groups.clear()
        for severity, name, members in alert_groups(alerts):
            key = f"g{severity}|{name}"
            self._groups[key] = name
            style = SEVERITY_STYLE.get(severity, "")
            title = Text(f"{one_line(severity, limit=12)} · ", style=style)
            title.append(one_line(name, limit=60), style="bold")
            title.append(f" ({len(members)})")
            table.add_row(title, Text(""), Text(""), Text(""), key=key)
            for i, alert in enumerate(members):
                akey = f"a{alert.fingerprint or ''}{i}|{name}"
                self._alerts[akey] = alert
                table.add_row(
                    Text("  " + one_line(name, limit=60), style="bright_black"),
                    Text(one_line(where(alert), limit=60)),
                    Text(one_line(alert.summary or alert.description, limit=300)),
                    Text(age_text(now - alert.starts_at) if alert.starts_at else "–"),
                    key=akey,
                )
        if not alerts:
            table.add_row(Text("no alert is firing"), Text(""), Text(""), Text(""))
        if keep is not None and (keep in self._alerts or keep in self._groups):
            table.move_cursor(row=table.get_row_index(keep), animate=False)

    def _selected(self) -> tuple[str | None, Alert | None]:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None, None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        if key in self._alerts:
            return self._alerts[key].name, self._alerts[key]
        return self._groups.get(key), None

    def runbook_for(self, name: str, alert: Alert | None) -> str | None:
        runbooks = self.app.runbooks
        if alert is not None and alert.runbook_id in runbooks:
            return alert.runbook_id
        return next((r.id for r in runbooks.values() if name in r.alerts), None)

    def action_open(self) -> None:
        name, alert = self._selected()
        if name is None:
            return
        runbook = self.runbook_for(name, alert)
        if runbook is None:
            self.notify(f"no runbook answers {one_line(name, limit=60)}", markup=False)
            return
        self.app.open_runbook(runbook)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_silence(self) -> None:
        name, alert = self._selected()
        if name is None:
            return
        matchers = {"alertname": name}
        if alert is not None:
            for label in ("runner", "instance"):
                if alert.label(label):
                    matchers[label] = alert.label(label)
                    break
        ask_and_silence(self, matchers)

    def action_wizard(self) -> None:
        """Open the wizard for the alert's runbook on the alert's runner."""
        name, alert = self._selected()
        if alert is None or not alert.runner:
            self.notify("pick one alert of a runner (not a group) to fix", markup=False)
            return
        runbook = self.runbook_for(name or alert.name, alert)
        if runbook is None:
            self.notify(f"no runbook answers {one_line(alert.name, limit=60)}", markup=False)
            return
        self.app.open_wizard(alert.runner, runbook)

    def action_back(self) -> None:
        self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS and self.app.read_only:
            return False
        return True
