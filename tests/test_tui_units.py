"""The terminal UI's pure parts: filter language, row values, ages, bars, keymap, themes,
applicable runbooks and the Loki log source's queries."""

from __future__ import annotations

import asyncio
import time

import pytest

from lab.loki_sim import LokiSimulator
from tui.keys import ALL_IDS, keymap
from tui.log_source import LogSource, LokiLogSource
from tui.model import Alert, FleetRow, FleetSnapshot, HostHealth, Runner, RunnerState, SourceStatus
from tui.queries import load_templates
from tui.runbooks.applicable import applicable_runbooks
from tui.runbooks.parse import load_runbooks
from tui.screens.fleet_filter import FilterError, FleetFilter
from tui.screens.fleet_rows import FleetView, SortOrder, StateHistory, columns_for
from tui.screens.silence import parse_duration
from tui.sources.loki import LokiClient
from tui.theme import ANSI, DARK, LIGHT, choose_theme
from tui.widgets.bars import bar_text
from tui.widgets.freshness import SourceTracker, age_text, source_note


def runner(id_, name, status="online", busy=False, labels=("pool-a",), version="2.330.0"):
    return Runner(
        id=id_, name=name, os="Linux", status=status, busy=busy,
        labels=("self-hosted", "Linux", *labels),
        label_types=("read-only", "read-only", *("custom",) * len(labels)),
        version=version,
    )  # fmt: skip


def alert(name, runner_name=None, severity="warning", url=""):
    labels = (("alertname", name),) + ((("runner", runner_name),) if runner_name else ())
    return Alert(name, severity, "active", labels, "s", "d", url, 0.0, f"fp-{name}")


def row(r, health=None, alerts=()):
    pool = next(x for x in r.custom_labels if x.startswith("pool"))
    return FleetRow(r, pool, health, tuple(alerts))


def snap(rows, taken_at=1000.0):
    return FleetSnapshot(taken_at, tuple(rows), (), ())


ROWS = [
    row(
        runner(1, "gpu-01", labels=("pool-gpu", "gpu")), HostHealth("gpu-01", "i1", 0.95, 0.5, 0.2)
    ),
    row(runner(2, "build-01", "offline"), HostHealth("build-01", "i2", 0.10, 0.9, 0.99)),
    row(runner(3, "build-02", "offline", busy=True), None, [alert("RunnerOrphaned", "build-02")]),
    row(runner(4, "build-03", busy=True, labels=("pool-b",))),
]


# ----- filter --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", ["gpu-01", "build-01", "build-02", "build-03"]),
        ("state:offline", ["build-01"]),
        ("state:off,orphan", ["build-01", "build-02"]),
        ("!state:offline", ["gpu-01", "build-02", "build-03"]),
        ("label:gpu", ["gpu-01"]),
        ("label:GPU", ["gpu-01"]),
        ("label:gp", []),  # a label matches whole, not in part
        ("pool:pool-b", ["build-03"]),
        ("!pool:pool-a", ["gpu-01", "build-03"]),
        ("build-0[12]", ["build-01", "build-02"]),
        ("build !state:idle !state:active", ["build-01", "build-02"]),
        ("orphaned", ["build-02"]),  # alert names are searched too
    ],
)
def test_filter_tokens_and_negation(text, names):
    f = FleetFilter.parse(text)
    assert [r.name for r in ROWS if f.keeps(r)] == names


@pytest.mark.parametrize("text", ["state:broken", "build-[", "!", "label:", "pool:("])
def test_filter_refuses_what_it_cannot_use_with_a_reason(text):
    with pytest.raises(FilterError) as e:
        FleetFilter.parse(text)
    assert str(e.value) and "\n" not in str(e.value)


def test_filter_matches_what_the_screen_shows_not_hidden_characters():
    hostile = row(runner(9, "bu\u200bild-\x1b[31mred\x1b[0m-09"))
    assert FleetFilter.parse("build-red-09").keeps(hostile)


# ----- rows, history, sort -------------------------------------------------------------


def test_state_history_records_only_changes_it_saw():
    history = StateHistory()
    history.observe(snap([row(runner(1, "a"))], 100.0))
    assert history.changed_at(1) is None  # first sight: GitHub does not say since when
    history.observe(snap([row(runner(1, "a", busy=True))], 130.0))
    assert history.changed_at(1) == 130.0
    history.observe(snap([row(runner(1, "a", busy=True))], 160.0))
    assert history.changed_at(1) == 130.0
    history.observe(snap([], 190.0))
    assert history.changed_at(1) is None  # gone runners are forgotten


def names_in(view_rows):
    return [cells[1] for _, cells in view_rows if not isinstance(cells[1], tuple)]


def test_sort_cycles_columns_and_puts_missing_values_last():
    view = FleetView()
    view.history.observe(snap(ROWS))
    cols = columns_for(79)
    assert names_in(view.rows(snap(ROWS), 1000.0, cols)) == [
        "build-01", "build-02", "build-03", "gpu-01"
    ]  # fmt: skip
    view.sort = SortOrder("state")
    assert names_in(view.rows(snap(ROWS), 1000.0, cols))[:2] == ["build-02", "build-01"]
    view.sort = SortOrder("cpu")
    assert names_in(view.rows(snap(ROWS), 1000.0, cols)) == [
        "gpu-01", "build-01", "build-02", "build-03"
    ]  # fmt: skip
    view.sort = SortOrder("disk").flipped()
    assert names_in(view.rows(snap(ROWS), 1000.0, cols))[-1] == "build-01"
    assert SortOrder("since").next() == SortOrder("name")


def test_grouping_puts_a_header_row_before_each_pool():
    view = FleetView()
    view.grouped = True
    keys = [k for k, _ in view.rows(snap(ROWS), 1000.0, columns_for(79))]
    assert keys == ["gpool-a", "r2", "r3", "gpool-b", "r4", "gpool-gpu", "r1"]


def test_columns_fit_80_and_widen_at_160():
    narrow, wide = columns_for(79), columns_for(159)
    assert sum(c.width for c in narrow) <= 79 and len(narrow) == 9
    assert sum(c.width for c in wide) == 159
    assert {c.key: c.width for c in wide}["cpu"] > {c.key: c.width for c in narrow}["cpu"]


def test_metric_noise_below_a_bar_step_changes_no_cell():
    view = FleetView()
    cols = columns_for(79)
    a = row(runner(1, "a"), HostHealth("a", "i", cpu_busy=0.501))
    b = row(runner(1, "a"), HostHealth("a", "i", cpu_busy=0.509))
    assert view.rows(snap([a]), 0, cols) == view.rows(snap([b]), 0, cols)


# ----- small formats -------------------------------------------------------------------


def test_ages_and_bars_on_a_fixed_scale():
    assert [age_text(x) for x in (None, 5, 61, 7200, 200000)] == ["–", "5s", "1m", "2h", "2d"]
    assert bar_text(0, 4) == "····"
    assert bar_text(32, 4) == "████"
    assert bar_text(16, 4) == "██··"
    assert bar_text(4, 4) == "▌···"


def test_a_failing_source_says_since_when_and_how_old_its_data_is(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    status = SourceStatus("prometheus", ok=False, updated_at=1000.0, error="x",
                          failing_since=1030.0)  # fmt: skip
    assert source_note(status, 1095.0) == (
        "prometheus unavailable since 00:17:10 (last data 95s old)"
    )
    assert source_note(SourceStatus("loki", ok=True, updated_at=1.0), 5.0) is None
    unset = SourceStatus("loki", ok=False, updated_at=None, configured=False)
    assert source_note(unset, 5.0, unset="no log source") == "no log source"
    clock = [50.0]
    tracker = SourceTracker("loki", lambda: clock[0])
    tracker.failed("down")
    assert "(no data yet)" in (tracker.note() or "")
    tracker.ok()
    assert tracker.note() is None


def test_silence_durations():
    assert parse_duration("90m").total_seconds() == 5400
    assert parse_duration("1h30m").total_seconds() == 5400
    for bad in ("", "2 hours", "0m", "8d", "-1h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# ----- keys and themes -----------------------------------------------------------------


def test_keymap_takes_known_actions_and_names_unknown_ones():
    chosen, warnings = keymap({"filter": "f", "sort-next": "s", "teleport": "t"})
    assert chosen == {"filter": "f", "sort-next": "s"}
    assert len(warnings) == 1 and "teleport" in warnings[0]
    assert {"filter", "help", "silence", "alerts", "range", "quit"} <= ALL_IDS


def test_theme_choice_and_no_color():
    names = [DARK, LIGHT, ANSI, "nord"]
    assert choose_theme("runnerdoc-light", {}, names) == (LIGHT, None)
    assert choose_theme("light", {}, names) == (LIGHT, None)
    assert choose_theme("textual-ansi", {}, names) == (ANSI, None)
    assert choose_theme("nord", {}, names) == ("nord", None)
    assert choose_theme("nord", {"NO_COLOR": "1"}, names) == (ANSI, None)
    theme, warning = choose_theme("neon", {}, names)
    assert theme == DARK and "neon" in (warning or "")


# ----- runbooks that apply -------------------------------------------------------------


def test_applicable_runbooks_from_state_and_alerts():
    runbooks = load_runbooks()
    ids = lambda found: [a.runbook.id for a in found]  # noqa: E731
    offline = applicable_runbooks(RunnerState.OFFLINE, (), runbooks)
    assert set(ids(offline)) == {"runner-offline", "registration-clock"}
    assert ids(applicable_runbooks(RunnerState.IDLE, (), runbooks)) == []
    orphan = applicable_runbooks(RunnerState.ORPHAN, (), runbooks)
    assert ids(orphan) == ["runner-offline"]
    by_url = alert("Anything", url="https://docs.example/runbooks/docker-daemon.html")
    by_name = alert("HostDiskFull")
    found = applicable_runbooks(RunnerState.IDLE, (by_url, by_name), runbooks)
    assert set(ids(found)) == {"docker-daemon", "degraded-resources"}
    assert found[0].reasons[0].startswith("alert ")
    both = applicable_runbooks(RunnerState.OFFLINE, (alert("RunnerOffline"),), runbooks)
    first = both[0]
    assert first.runbook.id == "runner-offline"
    assert first.reasons == ("runner is offline", "alert RunnerOffline is firing")
    unknown = applicable_runbooks(RunnerState.IDLE, (alert("NobodyKnowsMe"),), runbooks)
    assert unknown == []


# ----- log source ----------------------------------------------------------------------


def test_loki_log_source_asks_for_exactly_this_runner():
    loki = LokiSimulator().start()
    now = time.time()
    try:
        import httpx

        def push(runner_name, lines):
            labels = {"job": "actions-runner", "host": "h", "runner": runner_name,
                      "source": "worker", "level": "info"}  # fmt: skip
            values = [[str(int(t * 1e9)), s] for t, s in lines]
            body = {"streams": [{"stream": labels, "values": values}]}
            assert httpx.post(loki.url + "/loki/api/v1/push", json=body).status_code == 204

        push("pool.a-1", [(now - 20, "Job started"), (now - 10, "Disk FULL here")])
        push("poolXa-1", [(now - 5, "not mine")])  # "." must not match any character

        async def run():
            client = LokiClient(loki.url)
            source = LokiLogSource(client, load_templates(), clock=lambda: now)
            assert isinstance(source, LogSource)
            every = await source.recent("pool.a-1", 50)
            found = await source.recent("pool.a-1", 50, contains="disk full")
            await client.aclose()
            return every, found

        every, found = asyncio.run(run())
    finally:
        loki.stop()
    assert [ln.text for ln in every] == ["Disk FULL here", "Job started"]
    assert [ln.text for ln in found] == ["Disk FULL here"]


def test_runbook_page_keeps_the_step_badges_as_text():
    from tui.runbooks.publish import runbook_page
    from tui.screens.runbooks import terminal_markdown

    runbook = load_runbooks()["runner-offline"]
    page = terminal_markdown(runbook_page(runbook.body, runbook, []))
    assert "<p" not in page and "<span" not in page
    assert "*diagnose · on the runner host · timeout " in page
