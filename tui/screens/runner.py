"""One runner: host CPU, memory and disk over 1h/6h/24h, recent logs, alerts, runbooks, actions.

Charts and logs are asked for in workers; a source that fails marks only its own
panel, keeping the last data it had.
"""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane, Tabs

from tui.keys import RUNNER_KEYS, TYPED_ACTIONS, WRITE_ACTIONS
from tui.model import FleetRow, FleetSnapshot
from tui.queries import ParameterError, escape_regex
from tui.runbooks.applicable import applicable_runbooks
from tui.screens.fleet_rows import STATE_SYMBOL, pool_text, ratio_percent
from tui.screens.silence import ask_and_silence
from tui.sources.errors import SourceError
from tui.text import one_line
from tui.theme import SEVERITY_STYLE, STATE_STYLE
from tui.widgets.chart import Chart, ChartSeries
from tui.widgets.freshness import SourceTracker, age_text, clock_text, source_note
from tui.widgets.list_table import ListTable
from tui.widgets.steady_input import SteadyInput

RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600}
POINTS = 120  # per chart: enough for its width, few enough to stay cheap
# chart id, title, template, plot 1 - value (memory *available* -> used)
CHARTS = (
    ("cpu", "CPU busy %", "host-cpu-busy-ratio", False),
    ("mem", "MEM used %", "host-memory-available-ratio", True),
    ("disk", "DISK used %", "host-disk-used-ratio", False),
)
LOG_LIMIT = 200
LOG_LINE_LIMIT = 2000  # characters of one line kept in the table


class RunnerScreen(Screen):
    BINDINGS = RUNNER_KEYS
    DEFAULT_CSS = """
    RunnerScreen #summary { height: 2; padding: 0 1; background: $panel; }
    RunnerScreen TabbedContent { height: 1fr; }
    RunnerScreen TabPane { padding: 0; }
    RunnerScreen #charts-box { height: 1fr; }
    RunnerScreen #charts-box Chart { height: 1fr; width: 1fr; }
    RunnerScreen #log-search { border: none; height: 1; padding: 0 1; }
    RunnerScreen .note { height: auto; padding: 0 1; color: $text-warning; }
    RunnerScreen #alerts-note, RunnerScreen #charts-note { display: none; }
    RunnerScreen DataTable { height: 1fr; scrollbar-size-vertical: 1; }
    RunnerScreen #runner-alerts { height: auto; max-height: 8; }
    RunnerScreen .heading { text-style: bold; padding: 0 1; }
    """

    def __init__(self, runner_id: int) -> None:
        super().__init__()
        self.runner_id = runner_id
        self.range = "1h"
        self.charts_source: SourceTracker | None = None
        self.logs_source: SourceTracker | None = None
        self.log_filter = ""
        self.log_lines_shown = 0
        self._runbook_ids: list[str] = []

    # ----- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="summary", markup=False)
        with TabbedContent(initial="charts"):
            # Side by side: at 80x24 each chart gets 17 rows, stacked they would get 4.
            with TabPane("Charts", id="charts"):
                yield Static(id="charts-note", classes="note", markup=False)
                with Horizontal(id="charts-box"):
                    for chart_id, title, _, _ in CHARTS:
                        yield Chart(title, id=f"chart-{chart_id}")
            with TabPane("Logs", id="logs"):
                yield SteadyInput(placeholder="search logs (Enter)", id="log-search", compact=True)
                yield Static(id="log-note", classes="note", markup=False)
                yield ListTable(id="log-lines", cursor_type="row", zebra_stripes=False)
            with TabPane("Alerts+runbooks", id="alerts"):
                yield Static(id="alerts-note", classes="note", markup=False)
                yield ListTable(id="runner-alerts", cursor_type="row")
                yield Static(Text("Runbooks that apply", style="bold"), classes="heading")
                yield ListTable(id="runbooks", cursor_type="row")
            if not self.app.read_only:
                with TabPane("Actions", id="actions"):
                    yield Static(id="actions-list", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        app = self.app
        clock = app.clock
        self.charts_source = SourceTracker(
            "prometheus", clock, configured=app.clients.prometheus is not None
        )
        log_source = app.log_source
        self.logs_source = SourceTracker(
            getattr(log_source, "name", "logs"), clock, configured=log_source is not None
        )
        logs = self.query_one("#log-lines", DataTable)
        logs.add_column(Text("TIME", style="bold"), key="time")
        logs.add_column(Text("SOURCE", style="bold"), key="source")
        logs.add_column(Text("LINE", style="bold"), key="line")
        alerts = self.query_one("#runner-alerts", DataTable)
        for title, key in (("SEVERITY", "sev"), ("ALERT", "name"), ("SUMMARY", "summary"),
                           ("FOR", "for")):  # fmt: skip
            alerts.add_column(Text(title, style="bold"), key=key)
        runbooks = self.query_one("#runbooks", DataTable)
        runbooks.add_column(Text("RUNBOOK", style="bold"), key="title")
        runbooks.add_column(Text("WHY", style="bold"), key="why")
        if not app.read_only:
            self.query_one("#actions-list", Static).update(self._actions_text())
        app.fleet_updated.subscribe(self, self._on_fleet)
        self._show_row()
        self.load_charts()
        self.load_logs()

    @property
    def row(self) -> FleetRow | None:
        snapshot: FleetSnapshot | None = self.app.snapshot
        if snapshot is None:
            return None
        return next((r for r in snapshot.rows if r.runner.id == self.runner_id), None)

    @property
    def runner_name(self) -> str:
        row = self.row
        return row.name if row else f"runner {self.runner_id}"

    def _on_fleet(self, snapshot: FleetSnapshot) -> None:
        self._show_row()
        self.load_charts()

    # ----- summary, alerts and runbooks -------------------------------------------------

    def _show_row(self) -> None:
        row = self.row
        summary = Text(no_wrap=True, overflow="ellipsis", end="")
        if row is None:
            summary.append(f"runner {self.runner_id} is no longer in the fleet", style="bold red")
            self.query_one("#summary", Static).update(summary)
            return
        app = self.app
        state = row.state
        summary.append(f"{STATE_SYMBOL[state]} {state.value}", style=STATE_STYLE[state])
        summary.append("  ")
        summary.append(one_line(row.name, limit=60), style="bold")
        summary.append(f"  {pool_text(row)}  v{one_line(row.runner.version or '–', limit=20)}")
        changed = app.history.changed_at(row.runner.id)
        if changed is not None:
            summary.append(f"  changed {age_text(app.now() - changed)} ago")
        summary.append("\n")
        h = row.health
        if h is None:
            summary.append("no host metrics for this runner", style="bright_black")
        else:
            for label, value in (("CPU", h.cpu_busy), ("MEM", h.memory_used),
                                 ("DISK", h.disk_used)):  # fmt: skip
                pct = ratio_percent(value)
                high = pct is not None and pct >= 90
                summary.append(f"{label} ")
                summary.append("–" if pct is None else f"{pct}%", style="bold red" if high else "")
                summary.append("  ")
            summary.append(one_line(h.instance, limit=60), style="bright_black")
        if row.alerts:
            n = len(row.alerts)
            summary.append(f"  {n} alert{'' if n == 1 else 's'}", style="bold red")
        self.query_one("#summary", Static).update(summary)
        self._show_alerts(row)

    def _show_alerts(self, row: FleetRow) -> None:
        app = self.app
        snapshot = app.snapshot
        status = snapshot.source("alertmanager") if snapshot else None
        note = source_note(status, app.now(), unset="no alerts: set [alertmanager] url")
        self._note("#alerts-note", note)
        table = self.query_one("#runner-alerts", DataTable)
        table.clear()
        now = app.now()
        for alert in row.alerts:
            table.add_row(
                Text(
                    one_line(alert.severity, limit=12),
                    style=SEVERITY_STYLE.get(alert.severity, ""),
                ),
                Text(one_line(alert.name, limit=60)),
                Text(one_line(alert.summary or alert.description, limit=300)),
                Text(age_text(now - alert.starts_at) if alert.starts_at else "–"),
            )
        if not row.alerts:
            table.add_row(Text("–"), Text("no alert is firing for this runner"), Text(""), Text(""))
        runbooks = self.query_one("#runbooks", DataTable)
        runbooks.clear()
        found = applicable_runbooks(row.state, row.alerts, app.runbooks)
        self._runbook_ids = [a.runbook.id for a in found]
        for a in found:
            runbooks.add_row(
                Text(a.runbook.title, style="bold"), Text("; ".join(a.reasons)), key=a.runbook.id
            )

    def _note(self, selector: str, text: str | None) -> None:
        """A panel's one-line note about its source; no line at all when all is well."""
        note = self.query_one(selector, Static)
        note.update(Text(text or ""))
        note.display = bool(text)

    def _actions_text(self) -> Text:
        text = Text()
        text.append("s", style="bold")
        text.append("  silence this runner's alerts in Alertmanager (asks for duration and why)\n")
        text.append("y", style="bold")
        text.append("  copy the runner name (OSC 52, works over SSH)\n")
        text.append("\nRunbook steps run from the runbook wizard (coming with the SSH layer).",
                    style="bright_black")  # fmt: skip
        return text

    # ----- charts -----------------------------------------------------------------------

    @work(group="charts", exclusive=True, exit_on_error=False)
    async def load_charts(self) -> None:
        app = self.app
        prom = app.clients.prometheus
        charts = {cid: self.query_one(f"#chart-{cid}", Chart) for cid, *_ in CHARTS}
        tracker = self.charts_source
        assert tracker is not None
        if prom is None:
            for chart in charts.values():
                chart.set_note("no host metrics: set [prometheus] url")
            return
        row = self.row
        if row is None or row.health is None:
            snapshot = app.snapshot
            status = snapshot.source("prometheus") if snapshot else None
            note = source_note(status, app.now()) or (
                "Prometheus has no host metrics labelled with this runner"
            )
            for chart in charts.values():
                chart.set_note(note)
            return
        span = RANGES[self.range]
        end = app.now()
        start = end - span
        step = max(15.0, span / POINTS)
        instance = escape_regex(row.health.instance)
        try:
            exprs = [app.templates[t].render({"instance": instance}) for _, _, t, _ in CHARTS]
        except ParameterError as e:
            for chart in charts.values():
                chart.set_note(f"cannot chart this host: {e}")
            return
        results = await asyncio.gather(
            *(prom.query_range(expr, start, end, step) for expr in exprs), return_exceptions=True
        )
        for (cid, title, _, invert), result in zip(CHARTS, results, strict=True):
            chart = charts[cid]
            chart.border_title = Text(f"{title} · {self.range}")
            if isinstance(result, SourceError):
                tracker.failed(str(result))
                chart.set_note(tracker.note())
                self._note("#charts-note", tracker.note())
                continue
            if isinstance(result, BaseException):
                raise result
            tracker.ok()
            self._note("#charts-note", None)
            series = [
                ChartSeries(
                    one_line(s.labels.get("instance", ""), limit=40),
                    tuple((t, 100 * (1 - v if invert else v)) for t, v in s.points),
                )
                for s in result
            ]
            chart.set_series(series, start, end)
            chart.set_note(None if series else f"no data in the last {self.range}")

    def action_range(self, which: str | None = None) -> None:
        names = list(RANGES)
        self.range = which if which in RANGES else names[(names.index(self.range) + 1) % 3]
        self.load_charts()

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tab == "actions" and self.app.read_only:
            return
        # Focus left inside the pane being hidden would switch the pane straight back.
        self.set_focus(tabs.query_one(Tabs))
        tabs.active = tab
        if tab == "logs":
            self.set_focus(self.query_one("#log-lines", DataTable))
        elif tab == "alerts":
            self.set_focus(self.query_one("#runbooks", DataTable))

    # ----- logs -------------------------------------------------------------------------

    @work(group="logs", exclusive=True, exit_on_error=False)
    async def load_logs(self) -> None:
        app = self.app
        note = self.query_one("#log-note", Static)
        table = self.query_one("#log-lines", DataTable)
        tracker = self.logs_source
        assert tracker is not None
        source = app.log_source
        if source is None:
            note.update("no log source: set [loki] url (logs over SSH come with the remote layer)")
            return
        row = self.row
        if row is None:
            return
        wanted = self.log_filter
        note.update(Text(f"asking {source.name}…", style="italic"))
        try:
            lines = await source.recent(row.name, LOG_LIMIT, contains=wanted or None)
        except SourceError as e:
            tracker.failed(str(e))
            note.update(Text(tracker.note() or "", style="bold red"))
            return
        except ValueError as e:
            note.update(Text(f"cannot ask for this runner's logs: {one_line(str(e))}"))
            return
        tracker.ok()
        needle = wanted.lower()
        shown = 0
        table.clear()
        for line in lines:
            text = one_line(line.text, limit=LOG_LINE_LIMIT)
            if needle and needle not in text.lower():
                continue  # a source that cannot search returns everything
            table.add_row(
                Text(clock_text(line.timestamp)),
                Text(one_line(line.source, limit=10)),
                Text(text),
            )
            shown += 1
        self.log_lines_shown = shown
        what = f' holding "{one_line(wanted, limit=40)}"' if wanted else ""
        note.update(Text(f"{shown} recent lines{what} from {source.name}, newest first"))

    def action_log_search(self) -> None:
        self.action_tab("logs")
        self.set_focus(self.query_one("#log-search", SteadyInput))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "log-search":
            self.log_filter = event.value.strip()
            self.load_logs()
            self.set_focus(self.query_one("#log-lines", DataTable))

    # ----- actions ----------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "runbooks" and event.row_key.value:
            event.stop()
            self.app.open_runbook(event.row_key.value)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_silence_runner(self) -> None:
        row = self.row
        if row is not None:
            ask_and_silence(self, {"runner": row.name})

    def action_wizard(self) -> None:
        """Diagnose this runner and open the wizard for the top finding."""
        row = self.row
        if row is not None:
            self.app.open_wizard(row.name)

    def action_copy_name(self) -> None:
        row = self.row
        if row is not None:
            self.app.copy_to_clipboard(one_line(row.name))
            self.notify("runner name copied", timeout=2)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS and self.app.read_only:
            return False
        if action in TYPED_ACTIONS and isinstance(self.focused, Input):
            return False  # `/` typed into the log search is text
        if action == "tab" and parameters == ("actions",) and self.app.read_only:
            return False
        return True
