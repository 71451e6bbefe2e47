"""End to end against the lab: for every fault kind, inject, diagnose (right runbook first),
run the runbook unattended over real SSH, and see the runner online with its alerts resolved."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from lab.drill import RUNBOOK_FOR_FAULT, Drill, runnerdoc_exe

RUNNERS = 4


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e-lab")
    env = {**os.environ, "RUNNERDOC_LAB_DIR": str(folder / "lab")}
    up = subprocess.run([runnerdoc_exe(), "lab", "up", "--runners", str(RUNNERS)],
                        capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    drill = Drill(folder / "lab", journal_dir=folder / "journal", log=print)
    yield drill
    down = subprocess.run([runnerdoc_exe(), "lab", "down"], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert down.returncode == 0, down.stdout + down.stderr


@pytest.mark.parametrize("kind", list(RUNBOOK_FOR_FAULT))
def test_fault_is_diagnosed_and_fixed_unattended(lab, kind):
    runners = [r["name"] for r in lab.status()["runners"]]
    runner = runners[list(RUNBOOK_FOR_FAULT).index(kind) % len(runners)]
    try:
        result = lab.drill(runner, kind)
    finally:
        lab.run("lab", "heal", runner)
    assert result.runbook == RUNBOOK_FOR_FAULT[kind]
    assert result.findings[0]["runbook"] == result.runbook and result.findings[0]["evidence"]
    assert result.to_finding <= result.to_recovery
    assert result.alerts_resolved is not None


def test_one_key_from_the_runner_screen_opens_the_wizard_that_fixes_it(lab, tmp_path):
    import asyncio

    from tui.app import RunnerdocApp
    from tui.config import load_settings
    from tui.screens.runner import RunnerScreen
    from tui.screens.wizard import WizardScreen

    runner = lab.status()["runners"][0]["name"]
    lab.run("lab", "fault", runner, "offline", check=True)
    os.environ["RUNNERDOC_JOURNAL_DIR"] = str(tmp_path / "journal")
    settings = load_settings(lab.lab_dir / "config.toml", env={})

    async def drive():
        app = RunnerdocApp(settings)
        async with app.run_test(size=(100, 32)) as pilot:
            for _ in range(200):
                if app.snapshot and app.snapshot.row(runner):
                    break
                await pilot.pause(0.1)
            await app.push_screen(RunnerScreen(app.snapshot.row(runner).runner.id))
            await pilot.press("w")
            for _ in range(600):  # diagnosis over SSH, then the wizard's steps
                screen = app.screen
                if isinstance(screen, WizardScreen):
                    if screen.result is not None:
                        return screen
                    if screen._waiting == "confirm":
                        await pilot.press("y")
                    elif screen._waiting == "failure":
                        await pilot.press("c")
                await pilot.pause(0.2)
            raise AssertionError(f"the wizard did not finish; screen: {app.screen!r}")

    try:
        screen = asyncio.run(drive())
        assert screen.runbook.id == "runner-offline" and screen.result.ok
        lab.wait("online again", lambda: lab.runner_row(runner)["state"] in ("idle", "active"),
                 lab.clock() + 60)  # fmt: skip
    finally:
        os.environ.pop("RUNNERDOC_JOURNAL_DIR", None)
        lab.run("lab", "heal", runner)


def test_runnerdoc_lab_in_a_real_terminal(lab):
    """`runnerdoc --lab` in tmux at 80x24: a broken runner shows up, and keys reach it."""
    import time

    from test_tui_terminal import Tmux

    runner = lab.status()["runners"][1]["name"]
    tmux = Tmux(
        f"exec {runnerdoc_exe()} --lab",
        {"TERM": "xterm-256color", "RUNNERDOC_LAB_DIR": str(lab.lab_dir)},
    )
    try:
        tmux.wait_for(rf"{RUNNERS} runners", timeout=30)
        lab.run("lab", "fault", runner, "offline", check=True)
        # Killed in the middle of one of the lab's jobs, GitHub shows it offline and busy:
        # an orphan. Either is right; which one depends on when the job started.
        screen = tmux.wait_for(rf"^(× offline|! orphan) +{runner}", timeout=60)
        assert len(screen.splitlines()) == 24
        shown = re.search(rf"^(× offline|! orphan) +{runner}", screen, re.M)
        assert shown is not None
        state = shown.group(1)
        tmux.keys("/", f"state:{state.split()[1]}")
        tmux.wait_for(r"1 of \d+", timeout=20)
        tmux.keys("Enter")  # keep the filter
        time.sleep(0.3)
        tmux.keys("Enter")  # open the runner
        tmux.wait_for(rf"{re.escape(state)} +{runner}", timeout=20)
        tmux.wait_for(r"w Fix", timeout=20)
        tmux.keys("Escape")
        time.sleep(0.3)
        tmux.keys("q")
        deadline = time.monotonic() + 10
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not tmux.alive()
    finally:
        tmux.close()
        lab.run("lab", "heal", runner)


def test_hostile_values_run_as_data_on_a_lab_host(lab, tmp_path):
    """;, |, $(), backticks, newlines, quotes, a leading - and unicode stay one argument."""
    import shutil
    from pathlib import Path

    books = tmp_path / "books"
    books.mkdir()
    shutil.copy(Path(__file__).parent / "corpus" / "runbooks" / "engine" / "wizard-demo.md", books)
    runner = lab.status()["runners"][2]["name"]
    from tui.config import load_settings

    root = load_settings(lab.lab_dir / "config.toml", env={}).runner_roots[runner]
    work = Path(root) / "_work" / "hostile"
    work.mkdir(parents=True, exist_ok=True)
    canary = Path(root) / "_work" / "pwned"
    hostile = f"-x; touch {canary} | cat $(touch {canary}) `touch {canary}` 'q\"\n日本 \u202e"
    os.environ["RUNNERDOC_RUNBOOKS_DIR"] = str(books)
    try:
        r = lab.run(
            "--lab", "runbook", "run", "wizard-demo", "--runner", runner,
            "--param", f"workdir={work}", "--param", f"label={hostile}", "--yes",
        )  # fmt: skip
    finally:
        os.environ.pop("RUNNERDOC_RUNBOOKS_DIR")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert (work / "marker").read_text() == hostile + "\n"
    assert not canary.exists()
    assert "ghs_SuperSecretToken" not in r.stdout + r.stderr
