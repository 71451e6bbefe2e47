"""The real `runnerdoc` command in a real terminal (tmux) against the GitHub simulator:
navigate with send-keys, read with capture-pane; a hang-up ends it; NO_COLOR means no colour."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from test_tui_support import FLEET, TOKEN

from lab.github_sim import GitHubSimulator

RUNNERDOC = Path(sys.executable).with_name("runnerdoc")
# SGR parameters that set a colour: 30-38/40-48 (38/48 extended), 90-97/100-107 bright.
COLOUR_PARAMS = {*range(30, 39), *range(40, 49), *range(90, 98), *range(100, 108)}


@pytest.fixture
def sim():
    with GitHubSimulator(org="acme", token=TOKEN, runners=FLEET) as s:
        yield s


@pytest.fixture
def config(sim, tmp_path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[github]\norg = "acme"\napi_url = "{sim.url}"\ntoken = "{TOKEN}"\n'
        "[ui]\nrefresh_seconds = 2\n"
    )
    cfg.chmod(0o600)
    return cfg


class Tmux:
    """One private tmux server (its own socket) holding one 80x24 session."""

    def __init__(self, command: str, env: dict[str, str] | None = None):
        if shutil.which("tmux") is None:
            pytest.fail("tmux is needed: apt-get install tmux")
        self.socket = f"runnerdoc-test-{uuid.uuid4().hex[:8]}"
        extra = [f"-e{k}={v}" for k, v in (env or {}).items()]
        self.run("new-session", "-d", "-s", "t", "-x", "80", "-y", "24", *extra, command)
        self.run("set-option", "-t", "t", "remain-on-exit", "off")

    def run(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "t", *keys)

    def text(self, escapes: bool = False) -> str:
        return self.run("capture-pane", "-p", "-t", "t", *(["-e"] if escapes else []))

    def wait_for(self, pattern: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.text()
            if re.search(pattern, screen, re.M):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} never appeared; screen:\n{self.text()}")

    def pane_pid(self) -> int:
        return int(self.run("display-message", "-p", "-t", "t", "#{pane_pid}").strip())

    def alive(self) -> bool:
        return "t" in self.run("list-sessions", "-F", "#{session_name}").split()

    def close(self) -> None:
        self.run("kill-server")


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def start(config: Path, env: dict[str, str] | None = None) -> Tmux:
    # exec: the pane's process is runnerdoc itself, so tmux's SIGHUP reaches it directly.
    return Tmux(f"exec {RUNNERDOC} --config {config}", {"TERM": "xterm-256color", **(env or {})})


def test_the_runnerdoc_command_navigates_with_keys(config):
    tmux = start(config)
    try:
        screen = tmux.wait_for(r"6 runners ○2 idle ●2 active ×1 offline !1 orphan")
        assert re.search(r"^× offline +build-03 +pool-a", screen, re.M)
        assert len(screen.splitlines()) == 24
        tmux.keys("/", "state:orphan")  # typed at once: nothing may get lost after `/`
        tmux.wait_for(r"1 of 6")
        screen = tmux.text()
        assert "build-04" in screen and "build-01" not in screen
        tmux.keys("Enter")  # keep the filter, back to the table
        tmux.wait_for(r"^ / Filter +o Sort")
        tmux.keys("Enter")  # open the runner
        tmux.wait_for(r"! orphan +build-04 +pool-a +v2\.330\.0")
        tmux.keys("a")
        tmux.wait_for(r"runner is orphan")
        # One key per send: ESC right before another key reads as Alt+key in any terminal.
        tmux.keys("Escape")
        tmux.wait_for(r"Alerts\+runbooks")
        time.sleep(0.2)
        tmux.keys("Escape")
        tmux.wait_for(r"build-01")
        tmux.keys("?")
        tmux.wait_for(r"Keys on the fleet screen")
        tmux.keys("Escape")
        tmux.wait_for(r"^ / Filter")
        time.sleep(0.2)
        tmux.keys("q")
        pid_exit = time.monotonic() + 10
        while tmux.alive() and time.monotonic() < pid_exit:
            time.sleep(0.1)
        assert not tmux.alive()
    finally:
        tmux.close()


@pytest.mark.parametrize("how", ["kill-pane", "SIGHUP"])
def test_a_hang_up_ends_the_program(config, how):
    tmux = start(config)
    try:
        tmux.wait_for(r"6 runners")
        pid = tmux.pane_pid()
        if how == "kill-pane":
            tmux.run("kill-pane", "-t", "t")  # the terminal closes: tmux sends SIGHUP
        else:
            os.kill(pid, signal.SIGHUP)
        ended = gone(pid)
        if not ended:
            os.kill(pid, signal.SIGKILL)  # leave no stray process behind a failing test
        assert ended, f"runnerdoc (pid {pid}) still runs after {how}"
    finally:
        tmux.close()


def colour_codes(captured: str) -> list[str]:
    found = []
    for params in re.findall(r"\x1b\[([0-9;:]*)m", captured):
        numbers = [int(p) for p in re.split("[;:]", params) if p.isdigit()]
        if any(n in COLOUR_PARAMS for n in numbers):
            found.append(params)
    return found


def test_no_color_puts_no_colour_on_the_terminal(config):
    tmux = start(config, {"NO_COLOR": "1"})
    try:
        tmux.wait_for(r"6 runners")
        time.sleep(0.3)
        captured = tmux.text(escapes=True)
        assert "× offline" in captured and "! orphan" in captured  # symbols carry the state
        assert colour_codes(captured) == []
        assert re.search(r"\x1b\[[0-9;]*7[;m]", captured)  # the cursor row is reverse video
    finally:
        tmux.close()
    coloured = start(config)
    try:
        coloured.wait_for(r"6 runners")
        time.sleep(0.3)
        assert colour_codes(coloured.text(escapes=True))  # the same screen has colour without
    finally:
        coloured.close()
