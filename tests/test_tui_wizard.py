"""The wizard screen, driven by keys with Pilot, running real commands on the demo runbook."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.app import App
from textual.widgets import RichLog, Static

from tui.runbooks.engine import LocalExecutor, StepState
from tui.runbooks.journal import Journal
from tui.runbooks.parse import parse_runbook
from tui.screens.wizard import WizardScreen

DEMO = Path(__file__).parent / "corpus" / "runbooks" / "engine" / "wizard-demo.md"
TOKEN = "ghs_SuperSecretToken1234567890abcdef"


class WizardApp(App):
    def __init__(self, screen: WizardScreen):
        super().__init__()
        self.wizard = screen

    def on_mount(self) -> None:
        self.push_screen(self.wizard)


def wizard(tmp_path, *, read_only=False, label="demo") -> WizardScreen:
    ex = LocalExecutor()
    return WizardScreen(
        parse_runbook(DEMO), "runner-01", {"workdir": str(tmp_path), "label": label},
        {"runner": ex, "local": ex}, Journal("20261128-000000-wizard", tmp_path / "journal"),
        operator="alice", read_only=read_only,
    )  # fmt: skip


async def wait_for(pilot, predicate, timeout=20.0):
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    screen = pilot.app.screen
    prompt = str(screen.query_one("#wizard-prompt").render())
    raise AssertionError(f"timed out waiting; the wizard says {prompt!r}")


def text_of(screen, selector) -> str:
    widget = screen.query_one(selector)
    if isinstance(widget, RichLog):
        return "\n".join(line.text for line in widget.lines)
    return str(widget.render())


def test_confirm_each_change_then_summary_and_timeline(tmp_path):
    async def run():
        screen = wizard(tmp_path, label="x; $(touch pwned)")
        async with WizardApp(screen).run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: screen._waiting == "confirm")
            command = text_of(screen, "#wizard-command")
            assert "'x; $(touch pwned)'" in command and TOKEN not in command
            assert "Run this change?" in text_of(screen, "#wizard-prompt")
            await pilot.press("y")  # create-marker
            await wait_for(pilot, lambda: screen._waiting == "confirm")
            await pilot.press("y")  # maybe-fail
            await wait_for(pilot, lambda: screen.result is not None)
            assert screen.result.ok
            assert "fixed and verified" in text_of(screen, "#wizard-prompt")
            output = text_of(screen, "#wizard-output")
            assert "✔ verify-marker: passed" in output and TOKEN not in output
            await pilot.press("t")
            await pilot.pause(0.1)
            assert screen.timeline_path is not None and screen.timeline_path.exists()
            await pilot.press("q")
            await pilot.pause(0.1)
        return screen

    screen = asyncio.run(run())
    assert (tmp_path / "marker").read_text() == "x; $(touch pwned)\n"
    assert not Path("pwned").exists() and not (tmp_path / "pwned").exists()
    assert "# Incident timeline: wizard-demo on runner-01" in screen.timeline_path.read_text()


def test_failed_change_can_be_retried_from_the_keyboard(tmp_path):
    (tmp_path / "fail-here").touch()

    async def run():
        screen = wizard(tmp_path)
        async with WizardApp(screen).run_test(size=(80, 24)) as pilot:
            for _ in range(2):
                await wait_for(pilot, lambda: screen._waiting == "confirm")
                await pilot.press("y")
            await wait_for(pilot, lambda: screen._waiting == "failure")
            assert "r retry" in text_of(screen, "#wizard-prompt")
            assert "exit status 1, expected 0" in text_of(screen, "#wizard-checks")
            (tmp_path / "fail-here").unlink()  # the operator fixes it in another shell
            await pilot.press("r")
            await wait_for(pilot, lambda: screen.result is not None)
        return screen.result

    result = asyncio.run(run())
    assert result.ok
    states = [(o.step.name, o.state, o.retried) for o in result.outcomes]
    assert ("maybe-fail", StepState.FAILED, True) in states
    assert ("maybe-fail", StepState.PASSED, False) in states


def test_read_only_skips_every_change(tmp_path):
    async def run():
        screen = wizard(tmp_path, read_only=True)
        async with WizardApp(screen).run_test(size=(80, 24)) as pilot:
            # Nothing was changed, so verification fails; go on as the runbook says.
            await wait_for(pilot, lambda: screen._waiting == "failure")
            await pilot.press("c")
            await wait_for(pilot, lambda: screen.result is not None)
            title = str(screen.query_one("#wizard-title", Static).render())
            assert "READ-ONLY" in title
        return screen.result

    result = asyncio.run(run())
    assert not (tmp_path / "marker").exists()
    assert {o.step.name for o in result.outcomes if o.state == StepState.DECLINED} == {
        "create-marker", "maybe-fail",
    }  # fmt: skip
