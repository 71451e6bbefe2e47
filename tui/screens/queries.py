"""The query explorer: pick a template, edit its parameters, run it against Prometheus or Loki.

Values are checked by `QueryTemplate.render` as they are typed; a refused value shows
its reason inline and nothing is sent. Instant PromQL -> table, range -> chart; LogQL
log queries -> table of lines, metric queries -> chart.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.keys import QUERY_KEYS
from tui.queries import ParameterError, QueryTemplate
from tui.screens.runner import RANGES
from tui.sources.errors import SourceError
from tui.text import one_line
from tui.widgets.chart import Chart, ChartSeries
from tui.widgets.freshness import clock_text
from tui.widgets.steady_input import SteadyInput

ROWS = 500  # rows kept of an instant or log result
LABEL_PRIORITY = ("runner", "instance", "pool", "host", "repository", "state", "resource")


def series_label(labels: dict[str, str]) -> str:
    """The few labels that tell series apart, most telling first."""
    picked = [f"{k}={labels[k]}" for k in LABEL_PRIORITY if k in labels]
    if not picked:
        picked = [f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__"]
    return one_line(" ".join(picked) or "value", limit=60)


def is_log_query(expr: str) -> bool:
    # A LogQL log query starts with its stream selector; metric queries wrap one.
    return expr.lstrip().startswith("{")


class QueryScreen(Screen):
    BINDINGS = QUERY_KEYS
    DEFAULT_CSS = """
    QueryScreen #templates { width: 28; height: 1fr; border: none; scrollbar-size-vertical: 1;
                             text-wrap: nowrap; text-overflow: ellipsis; }
    QueryScreen #editor { width: 1fr; height: 1fr; padding: 0 0 0 1; }
    QueryScreen #q-title { height: 1; }
    QueryScreen #q-about { height: auto; max-height: 2; color: $text-muted; }
    QueryScreen #params { height: auto; max-height: 6; }
    QueryScreen .param { height: 1; }
    QueryScreen .param Static { width: 16; }
    QueryScreen .param Input { width: 1fr; border: none; height: 1; padding: 0; }
    QueryScreen #q-rendered { height: auto; max-height: 3; color: $text-muted; }
    QueryScreen #q-rendered.-error { color: $error; text-style: bold; }
    QueryScreen #q-mode { height: 1; }
    QueryScreen #results { height: 1fr; min-height: 6; }
    QueryScreen #q-table { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.template: QueryTemplate | None = None
        self.mode = "instant"
        self.range = "1h"
        self.rendered: str | None = None
        self.error: str | None = None
        self.ran: str | None = None  # what the last run showed: table, chart, logs or a note

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield OptionList(
                *(
                    Option(Text(t.id, no_wrap=True, overflow="ellipsis"), id=t.id)
                    for t in self.app.templates.values()
                ),
                id="templates",
            )
            with Vertical(id="editor"):
                yield Static(id="q-title", markup=False)
                yield Static(id="q-about", markup=False)
                yield VerticalScroll(id="params")
                yield Static(id="q-rendered", markup=False)
                yield Static(id="q-mode", markup=False)
                with ContentSwitcher(initial="q-table", id="results"):
                    yield DataTable(id="q-table", cursor_type="row")
                    yield Chart("result", percent=False, id="q-chart")
        yield Footer()

    def on_mount(self) -> None:
        templates = self.query_one("#templates", OptionList)
        templates.focus()
        templates.highlighted = 0

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.choose(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        inputs = self.query(".param Input")
        if inputs:
            self.set_focus(inputs.first())
        else:
            self.action_run()

    def choose(self, template_id: str) -> None:
        template = self.app.templates[template_id]
        if template is self.template:
            return
        self.template = template
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(template.title, style="bold")
        title.append(f"  {template.language} · {template.unit}", style="bright_black")
        self.query_one("#q-title", Static).update(title)
        self.query_one("#q-about", Static).update(Text(one_line(template.description, limit=300)))
        params = self.query_one("#params", VerticalScroll)
        params.remove_children()
        rows = []
        for name, param in template.params.items():
            row = Horizontal(
                Static(Text(f"{name} ({param.type})")),
                SteadyInput(param.default, id=f"param-{name}", compact=True, select_on_focus=False),
                classes="param",
            )
            rows.append(row)
        params.mount_all(rows)
        self.call_after_refresh(self.render_query)
        self._show_mode()

    def values(self) -> dict[str, str]:
        return {
            box.id.removeprefix("param-"): box.value
            for box in self.query(".param Input").results(Input)
            if box.id
        }

    def render_query(self) -> None:
        shown = self.query_one("#q-rendered", Static)
        if self.template is None:
            return
        try:
            self.rendered = self.template.render(self.values())
            self.error = None
            # Shown on few lines with runs of spaces folded; what is sent is `rendered`.
            shown.update(Text(" ".join(self.rendered.split())))
        except ParameterError as e:
            self.rendered = None
            self.error = f"{e.parameter}: {e.reason}"
            shown.update(Text(self.error))
        shown.set_class(self.error is not None, "-error")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("param-"):
            self.render_query()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id and event.input.id.startswith("param-"):
            self.action_run()

    def _show_mode(self) -> None:
        text = Text()
        if self.template is None:
            return
        if self.template.language == "promql":
            text.append(f"{self.mode}", style="bold")
            if self.mode == "range":
                text.append(f" over {self.range}")
            text.append("  ctrl+t instant/range · ctrl+y range · ctrl+r run", style="bright_black")
        else:
            text.append(f"logs over {self.range}", style="bold")
            text.append("  ctrl+y range · ctrl+r run", style="bright_black")
        self.query_one("#q-mode", Static).update(text)

    def action_mode(self) -> None:
        self.mode = "range" if self.mode == "instant" else "instant"
        self._show_mode()

    def action_range(self) -> None:
        names = list(RANGES)
        self.range = names[(names.index(self.range) + 1) % len(names)]
        self._show_mode()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_run(self) -> None:
        self.render_query()
        if self.rendered is None or self.template is None:
            self.notify("fix the parameter first", severity="warning")
            return
        self.run_query(self.template, self.rendered)

    # ----- running ----------------------------------------------------------------------

    def _note(self, text: str, *, error: bool = False) -> None:
        self.ran = "note"
        table = self.query_one("#q-table", DataTable)
        table.clear(columns=True)
        table.add_column(Text("RESULT", style="bold"), key="note")
        table.add_row(Text(text, style="bold red" if error else "italic"))
        self.query_one(ContentSwitcher).current = "q-table"

    @work(group="query", exclusive=True, exit_on_error=False)
    async def run_query(self, template: QueryTemplate, expr: str) -> None:
        app = self.app
        now = app.now()
        span = RANGES[self.range]
        start, step = now - span, max(15.0, span / 120)
        try:
            if template.language == "promql":
                prom = app.clients.prometheus
                if prom is None:
                    self._note("no metrics source: set [prometheus] url")
                    return
                if self.mode == "instant":
                    self._table([(series_label(dict(s.labels)), s.value) for s in
                                 await prom.query(expr)])  # fmt: skip
                else:
                    series = await prom.query_range(expr, start, now, step)
                    self._chart(template, series, start, now)
                return
            loki = app.loki
            if loki is None:
                self._note("no log source: set [loki] url")
                return
            if is_log_query(expr):
                self._logs(await loki.logs(expr, start=start, end=now + 1, limit=ROWS))
            else:
                self._chart(template, await loki.series(expr, start=start, end=now, step=step),
                            start, now)  # fmt: skip
        except SourceError as e:
            self._note(one_line(str(e), limit=300), error=True)

    def _table(self, rows: list[tuple[str, float]]) -> None:
        self.ran = "table"
        table = self.query_one("#q-table", DataTable)
        table.clear(columns=True)
        table.add_column(Text("SERIES", style="bold"), key="series")
        table.add_column(Text("VALUE", style="bold"), key="value")
        for label, value in rows[:ROWS]:
            table.add_row(Text(label), Text(f"{value:.4g}", justify="right"))
        if not rows:
            table.add_row(Text("no series", style="italic"), Text(""))
        self.query_one(ContentSwitcher).current = "q-table"

    def _logs(self, lines) -> None:
        self.ran = "logs"
        table = self.query_one("#q-table", DataTable)
        table.clear(columns=True)
        for title in ("TIME", "RUNNER", "LINE"):
            table.add_column(Text(title, style="bold"), key=title.lower())
        for line in lines[:ROWS]:
            table.add_row(
                Text(clock_text(line.timestamp)),
                Text(one_line(dict(line.labels).get("runner", ""), limit=40)),
                Text(one_line(line.text, limit=2000)),
            )
        if not lines:
            table.add_row(Text(""), Text(""), Text("no lines", style="italic"))
        self.query_one(ContentSwitcher).current = "q-table"

    def _chart(self, template: QueryTemplate, series, start: float, end: float) -> None:
        self.ran = "chart"
        chart = self.query_one("#q-chart", Chart)
        percent = template.unit == "percentunit"
        chart.percent = percent
        chart.threshold = None
        scale = 100.0 if percent else 1.0
        chart.border_title = Text(f"{template.title} · last {self.range}")
        chart.set_series(
            [
                ChartSeries(
                    series_label(dict(s.labels)), tuple((t, v * scale) for t, v in s.points)
                )
                for s in series
            ],
            start,
            end,
        )
        chart.set_note(None if series else "no series")
        self.query_one(ContentSwitcher).current = "q-chart"
