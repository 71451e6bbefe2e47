"""Untrusted text on every screen: runner names, labels, alert text and log lines carrying
terminal escapes (colour, cursor movement, OSC 52 clipboard, title change), markup, 10 KB
strings, zero-width and right-to-left characters. None of it may reach the terminal, and
the layout must stay intact."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from rich.cells import cell_len
from test_tui_support import (
    TOKEN,
    fleet_shown,
    gh_runner,
    make_app,
    screen_text,
    settings_for,
    wait_for,
)

from lab.github_sim import GitHubSimulator
from lab.loki_sim import LokiSimulator
from lab.services import start_alertmanager
from tui.screens.alerts import AlertsScreen
from tui.screens.runner import RunnerScreen

ESC_SEQUENCES = [
    "\x1b[31mred\x1b[0m",  # colour
    "\x1b[2J\x1b[H",  # clear screen, cursor home
    "\x1b[10;10H",  # cursor movement
    "\x1b]52;c;cHduZWQ=\x07",  # OSC 52: write the clipboard
    "\x1b]0;pwned\x1b\\",  # OSC 0: window title, ST-terminated
    "\x9b31m",  # 8-bit CSI
]
INVISIBLE = ["\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066", "\u200f"]
FORBIDDEN = re.compile("[\x1b\x07\x9b" + "".join(INVISIBLE) + "]")
HUGE = "A" * 10_240

HOSTILE_RUNNERS = [
    gh_runner(1, "evil-\x1b[31mred\x1b[0m-01", labels=("pool-a", "\x1b[5mblink")),
    gh_runner(2, "wipe-\x1b[2J\x1b[H02", status="offline"),
    gh_runner(3, "clip-\x1b]52;c;cHduZWQ=\x07-03"),
    gh_runner(4, "title-\x1b]0;pwned\x1b\\-04", busy=True),
    gh_runner(5, "zw\u200bsp\u200dace-05\ufeff"),
    gh_runner(6, "rtl-\u202egnp.exe-06"),
    gh_runner(7, "[b]markup[/b]-07"),
    gh_runner(8, "huge-" + HUGE, labels=("pool-" + "B" * 10_240,)),
    gh_runner(9, "two\nlines\r-09", version="\x1b[1m2.330.0"),
]
AM_CONFIG = """
route: {receiver: blackhole, group_wait: 1s}
receivers: [{name: blackhole}]
"""


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    service = start_alertmanager(tmp_path_factory.mktemp("am"), AM_CONFIG)
    alerts = [
        {"labels": {"alertname": "HostDiskFull\x1b[2J", "severity": "critical",
                    "runner": "evil-\x1b[31mred\x1b[0m-01"},
         "annotations": {"summary": "disk \x1b]52;c;cHduZWQ=\x07 full " + HUGE,
                         "description": "\u202eoverride [b]bold[/b]"}},
        {"labels": {"alertname": "RunnerOffline", "severity": "warning\x1b[5m",
                    "runner": "wipe-\x1b[2J\x1b[H02"},
         "annotations": {"summary": "zw\u200bsp\u2060 \x1b]0;title\x07"}},
    ]  # fmt: skip
    httpx.post(service.url + "/api/v2/alerts", json=alerts).raise_for_status()
    yield service
    service.stop()


@pytest.fixture
def sim():
    with GitHubSimulator(org="acme", token=TOKEN, runners=HOSTILE_RUNNERS) as s:
        yield s


@pytest.fixture
def loki():
    server = LokiSimulator().start()
    now = time.time()
    lines = [f"line {i}: {seq} after" for i, seq in enumerate(ESC_SEQUENCES)]
    lines += ["zero" + "".join(INVISIBLE) + "width", "[red]markup[/red] stays text", HUGE]
    body = {"streams": [{
        "stream": {"job": "actions-runner", "host": "h1", "runner": "evil-\x1b[31mred\x1b[0m-01",
                   "source": "worker\x1b[1m", "level": "info"},
        "values": [[str(int((now - 60 + i) * 1e9)), line] for i, line in enumerate(lines)],
    }]}  # fmt: skip
    assert httpx.post(server.url + "/loki/api/v1/push", json=body).status_code == 204
    yield server
    server.stop()


def assert_clean(app, width: int, height: int) -> str:
    """The screen holds no escape or invisible character and every line is its width."""
    text = screen_text(app)
    assert not FORBIDDEN.search(text), repr(FORBIDDEN.search(text))
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    assert len(lines) == height
    assert all(cell_len(line) == width for line in lines), text
    svg = app.export_screenshot()
    assert not FORBIDDEN.search(svg)
    return text


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_hostile_text_never_reaches_the_terminal(sim, loki, alertmanager, size):
    width, height = size
    app = make_app(settings_for(sim.url, alertmanager_url=alertmanager.url, loki_url=loki.url))

    async def main():
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: fleet_shown(app) and app.snapshot.alerts)
            await pilot.pause()
            text = assert_clean(app, width, height)
            # The fleet table is intact: header row first, one row per runner, in columns.
            assert re.search(r"^STATE +RUNNER▲ +POOL/LABELS +VERSION +CPU +MEM +DISK +ALERTS",
                             text, re.M)  # fmt: skip
            assert "evil-red-01" in text and "wipe-02" in text and "zwspace-05" in text
            assert "[b]markup[/b]-07" in text  # shown as typed, never read as markup
            assert "rtl-gnp.exe-06" in text
            assert "huge-AAAA" in text and "…" in text
            assert "two lines -09" in text  # newline and CR do not break the row
            assert "9 runners" in text
            # Runner screen: header, logs and alerts of the hostile runner.
            table = app.screen.query_one("#fleet")
            table.move_cursor(row=table.get_row_index("r1"))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunnerScreen))
            screen = app.screen
            await pilot.press("l")
            await wait_for(pilot, lambda: screen.log_lines_shown == 9)
            await pilot.pause()
            text = assert_clean(app, width, height)
            assert "[red]markup[/red] stays text" in text and "zerowidth" in text
            await pilot.press("a")
            await pilot.pause(0.2)
            assert_clean(app, width, height)
            await pilot.press("escape")
            await pilot.press("a")
            await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
            await pilot.pause()
            text = assert_clean(app, width, height)
            assert "HostDiskFull" in text and "disk full AAAA" in text
            await pilot.press("escape")
            await pilot.press("colon", *"evil")
            await pilot.pause(0.6)
            text = assert_clean(app, width, height)
            assert "Runner evil-red-01" in text

    asyncio.run(main())
