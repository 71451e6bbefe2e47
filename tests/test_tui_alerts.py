"""The alerts screen and the runbook browser with Pilot at 80x24, against a real
Alertmanager: grouping, opening an alert's runbook, creating a silence, and read-only mode."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from test_tui_support import (
    FLEET,
    TOKEN,
    fleet_shown,
    make_app,
    screen_text,
    settings_for,
    wait_for,
)

from lab.github_sim import GitHubSimulator
from lab.services import start_alertmanager
from tui.screens.alerts import AlertsScreen
from tui.screens.help import HelpScreen
from tui.screens.runbooks import RunbookListScreen, RunbookScreen
from tui.screens.runner import RunnerScreen
from tui.screens.silence import SilenceDialog

AM_CONFIG = """
route: {receiver: blackhole, group_wait: 1s}
receivers: [{name: blackhole}]
"""
ALERTS = [
    {"labels": {"alertname": "RunnerOffline", "severity": "critical", "runner": "build-03"},
     "annotations": {"summary": "build-03 is offline",
                     "runbook_url": "https://docs.example/runbooks/runner-offline.html"}},
    {"labels": {"alertname": "HostDiskFull", "severity": "warning", "runner": "build-01",
                "instance": "10.0.0.1:9100"},
     "annotations": {"summary": "disk 95% full on build-01"}},
    {"labels": {"alertname": "HostDiskFull", "severity": "warning", "runner": "build-02",
                "instance": "10.0.0.2:9100"},
     "annotations": {"summary": "disk 93% full on build-02"}},
]  # fmt: skip


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    service = start_alertmanager(tmp_path_factory.mktemp("am"), AM_CONFIG)
    httpx.post(service.url + "/api/v2/alerts", json=ALERTS).raise_for_status()
    yield service
    service.stop()


@pytest.fixture
def silences(alertmanager):
    """Silences created by the test, expired afterwards so every test sees every alert."""
    yield lambda: [
        s for s in httpx.get(alertmanager.url + "/api/v2/silences").json()
        if s["status"]["state"] == "active"
    ]  # fmt: skip
    for s in httpx.get(alertmanager.url + "/api/v2/silences").json():
        if s["status"]["state"] == "active":
            httpx.delete(f"{alertmanager.url}/api/v2/silence/{s['id']}")


@pytest.fixture
def sim():
    with GitHubSimulator(org="acme", token=TOKEN, runners=FLEET) as s:
        yield s


def run(app, scenario, size=(80, 24)):
    async def main():
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: fleet_shown(app) and len(app.snapshot.alerts) == 3)
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


def move_to(screen, key: str) -> None:
    table = screen.query_one("#alerts")
    table.move_cursor(row=table.get_row_index(key))


def key_of(screen, prefix: str, runner: str | None = None) -> str:
    for key, alert in screen._alerts.items():
        if key.startswith("a") and (runner is None or alert.runner == runner) and prefix in key:
            return key
    return next(k for k in screen._groups if prefix in k)


def test_alerts_grouped_by_severity_then_name_and_enter_opens_the_runbook(sim, alertmanager,
                                                                          silences):  # fmt: skip
    app = make_app(settings_for(sim.url, alertmanager_url=alertmanager.url))

    async def scenario(pilot):
        fleet = screen_text(app)
        assert "3 alerts firing" in fleet
        assert "1 HostDis…" in fleet and "1 RunnerO…" in fleet  # cut to the column's width
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
        text = screen_text(app)
        assert text.index("critical · RunnerOffline (1)") < text.index("warning · HostDiskFull (2)")
        assert "disk 95% full on build-01" in text and "build-02" in text
        screen = app.screen
        move_to(screen, key_of(screen, "RunnerOffline", "build-03"))
        await pilot.press("enter")  # the alert's runbook_url names the page
        await wait_for(pilot, lambda: isinstance(app.screen, RunbookScreen))
        assert app.screen.runbook_id == "runner-offline"
        await wait_for(pilot, lambda: "Meaning" in screen_text(app))
        await pilot.press("escape")
        move_to(screen, "gwarning|HostDiskFull")
        await pilot.press("enter")  # no runbook_url: the runbook that lists the alert
        await wait_for(pilot, lambda: isinstance(app.screen, RunbookScreen))
        assert app.screen.runbook_id == "degraded-resources"

    run(app, scenario)


def test_silence_asks_for_duration_and_why_then_creates_it(sim, alertmanager, silences):
    app = make_app(settings_for(sim.url, alertmanager_url=alertmanager.url))

    async def scenario(pilot):
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
        screen = app.screen
        move_to(screen, key_of(screen, "HostDiskFull", "build-01"))
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SilenceDialog))
        dialog = app.screen
        assert dialog.matchers == {"alertname": "HostDiskFull", "runner": "build-01"}
        await pilot.press("enter")
        await wait_for(pilot, lambda: "a comment is required" in screen_text(app))
        assert silences() == []
        await pilot.press(*"disk cleanup INC-42", "enter")
        await wait_for(pilot, lambda: len(silences()) == 1)
        made = silences()[0]
        matchers = {m["name"]: m["value"] for m in made["matchers"]}
        assert matchers == {"alertname": "HostDiskFull", "runner": "build-01"}
        assert made["comment"] == "disk cleanup INC-42"
        assert made["createdBy"].endswith("via runnerdoc")
        await wait_for(pilot, lambda: len(app.snapshot.alerts) == 2)  # refreshed after it
        await wait_for(pilot, lambda: "warning · HostDiskFull (1)" in screen_text(app))

    run(app, scenario)


def test_runner_screen_silences_its_runner_and_escape_cancels(sim, alertmanager, silences):
    app = make_app(settings_for(sim.url, alertmanager_url=alertmanager.url))

    async def scenario(pilot):
        await pilot.press("enter")  # build-01
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
        await pilot.press("a")
        await wait_for(pilot, lambda: "disk 95% full on build-01" in screen_text(app))
        assert "alert HostDiskFull is firing" in screen_text(app)
        assert app.screen._runbook_ids == ["degraded-resources"]
        await pilot.press("x")
        await wait_for(pilot, lambda: "silence this runner's alerts" in screen_text(app))
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SilenceDialog))
        assert app.screen.matchers == {"runner": "build-01"}
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
        assert silences() == []

    run(app, scenario)


def test_read_only_alerts_screen_offers_no_silence(sim, alertmanager, silences):
    app = make_app(settings_for(sim.url, alertmanager_url=alertmanager.url, read_only=True))

    async def scenario(pilot):
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
        assert "Silence" not in screen_text(app)  # not in the footer
        await pilot.press("s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, AlertsScreen) and silences() == []
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        does = [d for _, d, _ in app.screen.rows]
        assert "Open" in does and "Silence" not in does

    run(app, scenario)


def test_runbook_browser_lists_and_renders_the_site_page(sim, alertmanager):
    app = make_app(settings_for(sim.url, alertmanager_url=alertmanager.url))

    async def scenario(pilot):
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, RunbookListScreen))
        text = screen_text(app)
        assert text.index("critical") < text.index("info") if "info" in text else True
        assert "Runner offline" in text and "Docker" in text
        table = app.screen.query_one("#runbook-list")
        table.move_cursor(row=table.get_row_index("docker-daemon"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunbookScreen))
        page = app.screen.query_one("#runbook-page")
        await wait_for(pilot, lambda: "Diagnosis" in screen_text(app) or page.source)
        assert "## Diagnosis" in page.source
        assert "Related log signatures" in page.source  # what runbook_page appends
        await pilot.press("pagedown")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunbookListScreen))

    run(app, scenario)
