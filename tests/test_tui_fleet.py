"""The fleet screen driven by Pilot at 80x24, with a real FleetCollector against the GitHub
simulator: states, header, filter, sort, group, palette, help, keymap, read-only, a source
that is down, and refreshes that never overlap."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from test_tui_support import (
    FLEET,
    TOKEN,
    fleet_shown,
    make_app,
    screen_text,
    settings_for,
    table_names,
    wait_for,
)

from lab.github_sim import GitHubSimulator
from tui.screens.help import HelpScreen
from tui.screens.runner import RunnerScreen
from tui.screens.silence import SilenceDialog
from tui.theme import ANSI, LIGHT
from tui.widgets.fleet_table import FleetTable

SIZE = (80, 24)
ALL = ["build-01", "build-02", "build-03", "build-04", "gpu-01", "gpu-02"]


@pytest.fixture
def sim():
    with GitHubSimulator(org="acme", token=TOKEN, runners=FLEET) as s:
        yield s


def run(app, scenario, size=SIZE):
    async def main():
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: fleet_shown(app))
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space"}.get(ch, ch) for ch in text])


def test_every_runner_with_state_symbol_and_header_counts(sim):
    app = make_app(settings_for(sim.url))

    async def scenario(pilot):
        text = screen_text(app)
        assert table_names(app) == ALL
        for line, state in (("build-01", "○ idle"), ("build-02", "● active"),
                            ("build-03", "× offline"), ("build-04", "! orphan")):  # fmt: skip
            assert re.search(rf"{re.escape(state)} +{line} +pool-a +2\.330\.0", text), text
        assert re.search(r"gpu-01 +pool-gpu g… +2\.319\.1", text)  # cut to fit 80
        assert "6 runners ○2 idle ●2 active ×1 offline !1 orphan" in text
        assert "pool-a 4 ○1 ●1 ×1 !1 │ pool-gpu 2 ○1 ●1" in text
        assert "queued –" in text
        assert re.search(r"API 49\d\d/5000", text)
        assert re.search(r"github \ds · prometheus – · alertmanager –", text)
        assert all(len(line) <= 80 for line in text.splitlines())

    run(app, scenario)


def test_filter_with_regex_negation_and_field_tokens(sim):
    app = make_app(settings_for(sim.url))

    async def scenario(pilot):
        await pilot.press("slash")
        await type_text(pilot, "state:offline")
        await wait_for(pilot, lambda: table_names(app) == ["build-03"])
        assert "1 of 6" in screen_text(app)
        await pilot.press("enter")  # keeps the filter, back to the table
        assert isinstance(app.focused, FleetTable)
        await pilot.press("escape")
        await wait_for(pilot, lambda: table_names(app) == ALL)
        await pilot.press("slash")
        await type_text(pilot, "!label:gpu !state:off,orph")
        await wait_for(pilot, lambda: table_names(app) == ["build-01", "build-02"])
        await pilot.press("escape")
        await pilot.press("slash")
        await type_text(pilot, "a/:b")  # `/` and `:` are text in the filter, not keys
        assert app.screen.query_one("#filter").value == "a/:b"
        await pilot.press("escape")
        await pilot.press("slash")
        await type_text(pilot, "gpu-0[")
        await wait_for(pilot, lambda: "not a regular expression" in screen_text(app))
        assert table_names(app) == ALL  # a broken filter keeps the last good one

    run(app, scenario)


def test_sort_cycles_columns_and_group_by_pool(sim):
    app = make_app(settings_for(sim.url))

    async def scenario(pilot):
        await pilot.press("o")  # name -> state
        await wait_for(pilot, lambda: table_names(app)[:2] == ["build-04", "build-03"])
        assert "STATE▲" in screen_text(app) and "sort state▲" in screen_text(app)
        await pilot.press("R")
        await wait_for(pilot, lambda: table_names(app)[-2:] == ["build-03", "build-04"])
        await pilot.press("O")  # back to name
        await wait_for(pilot, lambda: table_names(app) == ALL)
        await pilot.press("g")
        table = app.screen.query_one(FleetTable)
        await wait_for(pilot, lambda: table.order[0] == "gpool-a")
        assert table.order == ["gpool-a", "r1", "r2", "r3", "r4", "gpool-gpu", "r5", "r6"]
        assert re.search(r"▾ +pool-gpu +2 runners", screen_text(app))
        table.move_cursor(row=5)
        await pilot.press("enter")  # a pool's header row filters to that pool
        await wait_for(pilot, lambda: table_names(app) == ["gpu-01", "gpu-02"])

    run(app, scenario)


def test_a_state_change_repaints_only_its_cells_and_shows_since_when(sim):
    clock = [time.time()]
    app = make_app(settings_for(sim.url), clock=lambda: clock[0])

    async def scenario(pilot):
        screen = app.screen
        table = screen.query_one(FleetTable)
        assert screen.last_change == "rebuild"
        app.refresh_fleet()
        await wait_for(pilot, lambda: app.refreshes == 2)
        assert screen.last_change == "none" and table.cells_updated == 0
        sim.update_runner(1, busy=True)
        clock[0] += 30
        app.refresh_fleet()
        await wait_for(pilot, lambda: app.refreshes == 3)
        assert screen.last_change == "cells"
        assert table.cells_updated == 2  # STATE and SINCE of build-01, nothing else
        clock[0] += 45
        app.refresh_fleet()
        await wait_for(pilot, lambda: app.refreshes == 4)
        await pilot.pause()
        assert re.search(r"● active +build-01 .* 45s", screen_text(app))

    run(app, scenario)


def test_refreshes_re_arm_after_finishing_and_never_overlap(sim):
    sim.inject_slow(count=None, delay=0.6)
    app = make_app(settings_for(sim.url, refresh_seconds=0.2))

    async def scenario(pilot):
        started = app.refreshes
        await wait_for(pilot, lambda: app.refreshes >= started + 3, timeout=20)
        assert sim.peak_in_flight == 1

    run(app, scenario)


def test_a_source_that_is_down_marks_only_its_own_columns(sim, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    clock = [1_767_225_600.0]
    app = make_app(
        settings_for(sim.url, prometheus_url="http://127.0.0.1:9"), clock=lambda: clock[0]
    )

    async def scenario(pilot):
        text = screen_text(app)
        assert "CPU/MEM/DISK: prometheus unavailable since 00:00:00 (no data yet)" in text
        assert table_names(app) == ALL  # runners from GitHub still shown
        sim.inject_5xx(count=None)
        clock[0] += 40
        app.refresh_fleet()
        await wait_for(pilot, lambda: app.refreshes == 2)
        await pilot.pause()
        text = screen_text(app)
        assert "runners: github unavailable since 00:00:40 (last data 40s old)" in text
        assert table_names(app) == ALL  # last good runners kept
        sim.clear_faults()
        clock[0] += 5
        app.refresh_fleet()
        await wait_for(pilot, lambda: app.refreshes == 3)
        await pilot.pause()
        assert "github unavailable" not in screen_text(app)

    run(app, scenario, size=(100, 24))


def test_command_palette_jumps_to_a_runner(sim):
    app = make_app(settings_for(sim.url))

    async def scenario(pilot):
        await pilot.press("colon")
        await type_text(pilot, "gpu-02")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
        assert app.screen.runner_id == 6
        assert "gpu-02" in screen_text(app)

    run(app, scenario)


def test_help_lists_the_active_keys_as_remapped(sim):
    app = make_app(settings_for(sim.url, keys={"filter": "f", "sort-next": "s"}))

    async def scenario(pilot):
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = {(key, does) for key, does, _ in app.screen.rows}
        assert ("f", "Filter") in rows and ("s", "Sort") in rows
        assert ("/", "Filter") not in rows
        assert ("q", "Quit") in rows and ("a", "Alerts") in rows
        await pilot.press("escape")
        await pilot.press("f")
        await type_text(pilot, "gpu")
        await wait_for(pilot, lambda: table_names(app) == ["gpu-01", "gpu-02"])

    run(app, scenario)


def test_read_only_shows_in_the_header_and_hides_every_write_action(sim):
    app = make_app(settings_for(sim.url, read_only=True))

    async def scenario(pilot):
        assert "READ-ONLY" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
        await pilot.pause()
        assert "Actions" not in screen_text(app)
        assert not app.screen.query("#actions")
        await pilot.press("s")
        await pilot.pause()
        assert not isinstance(app.screen, SilenceDialog)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "Silence" not in [does for _, does, _ in app.screen.rows]

    run(app, scenario)


def test_theme_from_settings_and_no_color(sim, monkeypatch):
    light = make_app(settings_for(sim.url, theme="light"))
    assert light.theme == LIGHT
    monkeypatch.setenv("NO_COLOR", "1")
    from tui.app import RunnerdocApp

    mono = RunnerdocApp(settings_for(sim.url, theme="runnerdoc-light"), live=False)
    assert mono.theme == ANSI and mono.no_color and mono.native_ansi_color
