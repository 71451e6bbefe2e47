"""The runner screen and the query explorer with Pilot at 80x24: charts from a real
Prometheus scraping a small metrics server, logs from the Loki stand-in, runbooks that apply,
and a Prometheus that goes away while the screen is open."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from test_tui_support import (
    FLEET,
    TOKEN,
    NodeMetrics,
    fleet_shown,
    make_app,
    screen_text,
    settings_for,
    start_metrics_prometheus,
    wait_for,
)

from lab.github_sim import GitHubSimulator
from lab.loki_sim import LokiSimulator
from tui.log_source import LokiLogSource
from tui.queries import load_templates
from tui.screens.queries import QueryScreen
from tui.screens.runbooks import RunbookScreen
from tui.screens.runner import RunnerScreen
from tui.sources.loki import LokiClient
from tui.widgets.chart import Chart

HOSTS = {  # runner -> (disk used, memory used)
    "build-01": (0.95, 0.25),
    "build-02": (0.40, 0.60),
    "build-03": (0.10, 0.10),
}


@pytest.fixture(scope="module")
def metrics():
    server = NodeMetrics(HOSTS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory, metrics):
    service = start_metrics_prometheus(tmp_path_factory.mktemp("prom"), metrics)
    yield service
    service.stop()


@pytest.fixture
def sim():
    with GitHubSimulator(org="acme", token=TOKEN, runners=FLEET) as s:
        yield s


@pytest.fixture
def loki():
    server = LokiSimulator().start()
    yield server
    server.stop()


def push_logs(
    loki_url: str, runner: str, lines: list[tuple[float, str]], level: str = "info"
) -> None:
    labels = {"job": "actions-runner", "host": f"host-{runner}", "runner": runner,
              "source": "worker", "level": level}  # fmt: skip
    body = {"streams": [{"stream": labels,
                         "values": [[str(int(t * 1e9)), s] for t, s in lines]}]}  # fmt: skip
    assert httpx.post(loki_url + "/loki/api/v1/push", json=body).status_code == 204


def run(app, scenario, size=(80, 24)):
    async def main():
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: fleet_shown(app))
            await scenario(pilot)

    asyncio.run(main())


async def open_runner(pilot, row: int) -> RunnerScreen:
    pilot.app.screen.query_one("#fleet").move_cursor(row=row)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunnerScreen))
    return pilot.app.screen


def chart_values(screen: RunnerScreen, chart_id: str) -> list[float]:
    chart = screen.query_one(f"#chart-{chart_id}", Chart)
    return [v for s in chart.series for _, v in s.points]


def test_charts_of_cpu_memory_and_disk_over_three_ranges(sim, prometheus):
    app = make_app(settings_for(sim.url, prometheus_url=prometheus.url))

    async def scenario(pilot):
        await wait_for(pilot, lambda: app.snapshot.row("build-01").health is not None)
        screen = await open_runner(pilot, 0)
        await wait_for(pilot, lambda: all(chart_values(screen, c) for c in ("cpu", "mem", "disk")))
        # One series each: the instance was matched exactly, not as a regex over all hosts.
        for cid in ("cpu", "mem", "disk"):
            assert len(screen.query_one(f"#chart-{cid}", Chart).series) == 1
        assert chart_values(screen, "disk")[-1] == pytest.approx(95, abs=0.5)
        assert chart_values(screen, "mem")[-1] == pytest.approx(25, abs=0.5)  # 1 - available
        # rate() over 5m of a Prometheus only seconds old reads high; the scale is what counts.
        assert all(0 <= v <= 100 for v in chart_values(screen, "cpu"))
        text = screen_text(app)
        assert "CPU busy % · 1h" in text and "DISK used % · 1h" in text
        assert "DISK 95%" in text and "10.0.0.1:9100" in text
        assert "90" in text  # the threshold tick on the fixed 0-100 scale
        await pilot.press("6")
        await wait_for(pilot, lambda: "MEM used % · 6h" in screen_text(app))
        await pilot.press("t")
        await wait_for(pilot, lambda: "MEM used % · 24h" in screen_text(app))
        await pilot.press("t")
        await wait_for(pilot, lambda: "MEM used % · 1h" in screen_text(app))

    run(app, scenario)


def test_logs_from_loki_searchable_and_runbooks_that_apply(sim, loki):
    now = time.time()
    push_logs(loki.url, "build-03", [
        (now - 60, "Listening for Jobs"),
        (now - 30, "Runner connect error: Name or service not known"),
        (now - 10, "\x1b]0;pwned\x07Retrying in 30 seconds"),
    ])  # fmt: skip
    push_logs(loki.url, "build-01", [(now - 5, "not build-03's line")])
    client = LokiClient(loki.url)
    app = make_app(
        settings_for(sim.url, loki_url=loki.url),
        log_source=LokiLogSource(client, load_templates()),
    )

    async def scenario(pilot):
        screen = await open_runner(pilot, 2)  # build-03, offline
        await pilot.press("l")
        await wait_for(pilot, lambda: screen.log_lines_shown == 3)
        text = screen_text(app)
        assert "Retrying in 30 seconds" in text and "pwned" not in text
        assert "not build-03's line" not in text
        assert "3 recent lines from loki" in text
        await pilot.press("slash")
        await pilot.press(*"connect", "enter")
        await wait_for(pilot, lambda: screen.log_lines_shown == 1)
        assert 'holding "connect"' in screen_text(app)
        await pilot.press("a")
        await wait_for(pilot, lambda: "Runner offline" in screen_text(app))
        text = screen_text(app)
        assert "runner is offline" in text
        assert "no alerts: set [alertmanager] url" in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunbookScreen))
        assert app.screen.runbook_id in {"runner-offline", "registration-clock"}
        await client.aclose()

    run(app, scenario)


def test_without_loki_the_logs_tab_says_what_to_set(sim):
    app = make_app(settings_for(sim.url))

    async def scenario(pilot):
        await open_runner(pilot, 0)
        await pilot.press("l")
        await wait_for(pilot, lambda: "no log source: set [loki] url" in screen_text(app))
        assert (
            "no host metrics: set [prometheus] url"
            in app.screen.query_one("#chart-cpu", Chart).note
        )

    run(app, scenario)


def test_prometheus_going_away_marks_only_the_charts(sim, loki, metrics, tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    own = start_metrics_prometheus(tmp_path / "prom", metrics)
    now = time.time()
    push_logs(loki.url, "build-01", [(now - 5, "Job completed")])
    client = LokiClient(loki.url)
    app = make_app(
        settings_for(sim.url, prometheus_url=own.url),
        log_source=LokiLogSource(client, load_templates()),
    )

    async def scenario(pilot):
        await wait_for(pilot, lambda: app.snapshot.row("build-01").health is not None)
        screen = await open_runner(pilot, 0)
        await wait_for(pilot, lambda: chart_values(screen, "disk"))
        own.stop()
        stopped = time.time()
        app.refresh_fleet()
        await wait_for(pilot, lambda: screen.charts_source.status.failing_since is not None)
        await pilot.pause(0.2)
        disk = screen.query_one("#chart-disk", Chart)
        assert disk.series  # the last data stays on screen
        assert disk.note.startswith("prometheus unavailable since ")
        assert "last data" in disk.note
        since = time.strftime("%H:%M", time.gmtime(stopped))
        assert since in disk.note
        assert "prometheus unavailable since" in screen_text(app)
        await pilot.press("l")
        await wait_for(pilot, lambda: screen.log_lines_shown == 1)  # logs keep working
        text = screen_text(app)
        assert "Job completed" in text
        await client.aclose()

    try:
        run(app, scenario)
    finally:
        own.stop()


def test_query_explorer_validates_and_runs_instant_and_range(sim, prometheus):
    app = make_app(settings_for(sim.url, prometheus_url=prometheus.url))

    async def scenario(pilot):
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, QueryScreen))
        screen = app.screen
        templates = list(app.templates)
        screen.query_one("#templates").highlighted = templates.index("host-disk-used-ratio")
        await wait_for(pilot, lambda: getattr(screen.template, "id", "") == "host-disk-used-ratio")
        await wait_for(pilot, lambda: screen.rendered is not None)
        box = screen.query_one("#param-instance")
        box.focus()
        box.value = "10.0.0.1:9100("  # an unbalanced group is refused before anything is sent
        await wait_for(pilot, lambda: screen.error is not None)
        assert 'instance: value "10.0.0.1:9100("' in screen_text(app)
        assert "not a valid regular expression" in screen.error
        box.value = ".+"
        await wait_for(pilot, lambda: screen.error is None)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.ran == "table")
        text = screen_text(app)
        assert "runner=build-01" in text and "0.95" in text
        await pilot.press("ctrl+t")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.ran == "chart")
        chart = screen.query_one("#q-chart", Chart)
        assert len(chart.series) == 3 and chart.percent

    run(app, scenario, size=(80, 24))


def test_query_explorer_runs_logql_against_loki(sim, loki):
    now = time.time()
    push_logs(loki.url, "build-02", [(now - 20, "No space left on device")], level="err")
    push_logs(loki.url, "build-02", [(now - 5, "fine")])
    app = make_app(settings_for(sim.url, loki_url=loki.url))

    async def scenario(pilot):
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, QueryScreen))
        screen = app.screen
        screen.query_one("#templates").highlighted = list(app.templates).index("disk-full-lines")
        await wait_for(pilot, lambda: screen.rendered is not None)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.ran == "logs")
        text = screen_text(app)
        assert "No space left on device" in text and "build-02" in text
        assert "fine" not in text
        screen.query_one("#templates").highlighted = list(app.templates).index("runner-error-rate")
        await wait_for(pilot, lambda: screen.template.id == "runner-error-rate")
        await wait_for(pilot, lambda: screen.rendered is not None)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.ran == "chart")
        chart = screen.query_one("#q-chart", Chart)
        assert [s.label for s in chart.series] == ["runner=build-02 host=host-build-02"]

    run(app, scenario)
