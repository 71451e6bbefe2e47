"""The remediation wizard: a runbook's steps on screen, run one by one over SSH.

The engine runs in a worker thread; when it needs the operator (a change to
confirm, a failed step) it waits on an event that a key press sets. The screen
shows the step's prose from the runbook, the exact command, live output, and the
checks as expected against actual; at the end a summary and the incident timeline.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown, RichLog, Static

from tui.runbooks.engine import (
    AfterFailure,
    Decision,
    Executor,
    RunbookRun,
    RunResult,
    StepOutcome,
    StepState,
)
from tui.runbooks.journal import Journal
from tui.runbooks.runbook import Runbook, Step
from tui.runbooks.timeline import timeline_markdown
from tui.text import one_line, safe_text

STATE_STYLE = {
    StepState.PASSED: ("✔", "green"),
    StepState.FAILED: ("✘", "red"),
    StepState.TIMED_OUT: ("⏱", "red"),
    StepState.ERROR: ("!", "red"),
    StepState.CANCELLED: ("■", "yellow"),
    StepState.DECLINED: ("↷", "yellow"),
    StepState.SKIPPED: ("↷", "yellow"),
    StepState.WOULD_RUN: ("·", "cyan"),
}


class WizardScreen(Screen[RunResult | None]):
    """Runs one runbook against one runner, asking before every change."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer('run')", "Run", priority=True),
        Binding("s", "answer('skip')", "Skip"),
        Binding("r", "answer('retry')", "Retry"),
        Binding("c", "answer('follow')", "Continue"),
        Binding("a", "answer('abort')", "Abort"),
        Binding("t", "export_timeline", "Timeline"),
        Binding("escape,q", "close", "Close"),
    ]
    DEFAULT_CSS = """
    WizardScreen { layout: vertical; }
    #wizard-title { height: 1; background: $panel; padding: 0 1; }
    #wizard-step { height: auto; max-height: 8; padding: 0 1; }
    #wizard-prose { height: auto; max-height: 5; margin: 0; padding: 0; }
    #wizard-command { height: auto; max-height: 4; background: $boost; padding: 0 1; }
    #wizard-output { height: 1fr; min-height: 4; border: round $primary; }
    #wizard-checks { height: auto; max-height: 4; padding: 0 1; }
    #wizard-prompt { height: 1; padding: 0 1; background: $warning 30%; }
    """

    def __init__(
        self,
        runbook: Runbook,
        runner: str,
        values: Mapping[str, str],
        executors: Mapping[str, Executor],
        journal: Journal,
        *,
        operator: str = "",
        read_only: bool = False,
        dry_run: bool = False,
    ):
        super().__init__()
        self.runbook = runbook
        self.runner = runner
        self.read_only = read_only
        self._answer = threading.Event()
        self._choice: str | None = None
        self._waiting: str | None = None  # "confirm" | "failure" | None
        self.result: RunResult | None = None
        self.timeline_path: Path | None = None
        self.run = RunbookRun(
            runbook,
            runner,
            values,
            executors,
            journal,
            confirm=self._confirm,
            dry_run=dry_run,
            operator=operator,
            on_event=self._event,
            on_output=self._output,
            on_failure=self._failure,
        )

    def compose(self) -> ComposeResult:
        title = f"{self.runbook.title} · {one_line(self.runner, limit=40)}"
        if self.read_only:
            title += " · READ-ONLY: changes are skipped"
        yield Static(Text(title, style="bold"), id="wizard-title")
        with Vertical(id="wizard-step"):
            yield Static("", id="wizard-step-title")
            with VerticalScroll(id="wizard-prose"):
                yield Markdown("", id="wizard-prose-md")
        yield Static("", id="wizard-command")
        yield RichLog(id="wizard-output", wrap=True, markup=False, highlight=False, max_lines=2000)
        yield Static("", id="wizard-checks")
        yield Static("", id="wizard-prompt")
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self._drive, thread=True, exclusive=True, name="wizard")

    def on_unmount(self) -> None:
        # The engine thread may be waiting for an answer: let it end instead of
        # keeping the program alive after the screen (or the app) is gone.
        self.run.cancel.set()
        self._answer.set()

    # --- the engine's thread ------------------------------------------------------------

    def _drive(self) -> None:
        result = self.run.start()
        if not self.run.cancel.is_set():
            self.app.call_from_thread(self._finished, result)

    def _ask(self, kind: str, prompt: str) -> str:
        self._choice = None
        self._answer.clear()
        if self.run.cancel.is_set():
            return "abort"
        self.app.call_from_thread(self._show_prompt, kind, prompt)
        while not self._answer.wait(0.2):
            if self.run.cancel.is_set():
                return "abort"
        return self._choice or "abort"

    def _confirm(self, step: Step, command: str) -> Decision:
        if self.read_only:
            self.app.call_from_thread(self._note, f"read-only: {step.name} skipped")
            return Decision.SKIP
        warn = " DESTRUCTIVE, cannot be undone." if step.destructive else ""
        answer = self._ask("confirm", f"Run this change?{warn}  y run · s skip · a abort")
        return {"run": Decision.RUN, "skip": Decision.SKIP}.get(answer, Decision.ABORT)

    def _failure(self, outcome: StepOutcome) -> AfterFailure:
        target = outcome.step.on_fail
        answer = self._ask(
            "failure",
            f"{outcome.step.name} {outcome.state.value}."
            f"  r retry · c continue ({target}) · a abort",
        )
        return {"retry": AfterFailure.RETRY, "follow": AfterFailure.FOLLOW}.get(
            answer, AfterFailure.ABORT
        )

    def _event(self, kind: str, outcome: StepOutcome | None, text: str) -> None:
        if kind == "step-start":
            self.app.call_from_thread(self._show_step, self.runbook.step(text))
        elif kind == "step-end" and outcome is not None:
            self.app.call_from_thread(self._show_outcome, outcome)
        elif kind == "rollback":
            self.app.call_from_thread(self._note, text)

    def _output(self, step: Step, chunk: str) -> None:
        self.app.call_from_thread(self._write_output, chunk)

    # --- the UI thread --------------------------------------------------------------------

    def _show_step(self, step: Step) -> None:
        number = self.runbook.steps.index(step) + 1
        badge = f"[{step.kind}{', destructive' if step.destructive else ''}]"
        self.query_one("#wizard-step-title", Static).update(
            Text.assemble(
                (f"Step {number}/{len(self.runbook.steps)} ", "dim"),
                (step.title, "bold"),
                (f"  {badge} on {step.target}", "italic"),
            )
        )
        self.query_one("#wizard-prose-md", Markdown).update(step.prose)
        self.query_one("#wizard-command", Static).update(
            Text("$ " + safe_text(self.run.redactor(self.run.render(step)), keep_newlines=True))
        )
        self.query_one("#wizard-checks", Static).update("")
        log = self.query_one("#wizard-output", RichLog)
        log.write(Text(f"── {step.name}", style="dim"))
        self._show_prompt(None, "running…" if not step.confirm else "")

    def _write_output(self, chunk: str) -> None:
        self.query_one("#wizard-output", RichLog).write(
            Text(safe_text(chunk, keep_newlines=True).rstrip("\n"))
        )

    def _show_outcome(self, outcome: StepOutcome) -> None:
        mark, style = STATE_STYLE.get(outcome.state, ("?", "white"))
        lines = Text()
        lines.append(f"{mark} {outcome.state.value}", style=f"bold {style}")
        for check in outcome.checks:
            lines.append(f"  · {safe_text(check)}")
        self.query_one("#wizard-checks", Static).update(lines)

    def _show_prompt(self, kind: str | None, prompt: str) -> None:
        self._waiting = kind
        self.query_one("#wizard-prompt", Static).update(Text(prompt))

    def _note(self, text: str) -> None:
        self.query_one("#wizard-output", RichLog).write(Text(safe_text(text), style="yellow"))

    def _finished(self, result: RunResult) -> None:
        self.result = result
        self._waiting = None
        log = self.query_one("#wizard-output", RichLog)
        log.write(Text("── summary", style="bold"))
        for o in result.outcomes:
            mark, style = STATE_STYLE.get(o.state, ("?", "white"))
            retried = " (retried)" if o.retried else ""
            log.write(Text(f"{mark} {o.step.name}: {o.state.value}{retried}", style=style))
        verdict = "fixed and verified" if result.ok else f"not fixed: {result.reason}"
        self._show_prompt(None, f"{verdict}.  t export timeline · q close")

    # --- keys -----------------------------------------------------------------------------

    def action_answer(self, choice: str) -> None:
        allowed = {"confirm": ("run", "skip", "abort"), "failure": ("retry", "follow", "abort")}
        if self._waiting and choice in allowed[self._waiting]:
            self._choice = choice
            self._waiting = None
            self.query_one("#wizard-prompt", Static).update("")
            self._answer.set()

    def action_export_timeline(self) -> None:
        if self.result is None:
            self.notify("The timeline is ready when the run ends.", severity="warning")
            return
        path = self.run.journal.path.with_suffix(".md")
        path.write_text(timeline_markdown(self.run.journal.records()), encoding="utf-8")
        self.timeline_path = path
        self.notify(f"Timeline written to {path}")

    def action_close(self) -> None:
        if self.result is None:
            self.run.cancel.set()
            self._answer.set()
            self.notify("Stopping the run after the current command…")
            return
        self.dismiss(self.result)
