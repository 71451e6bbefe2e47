"""The wizard's state machine: runs a runbook's steps in order, with branches and checks.

No Textual here: the TUI wizard and `runnerdoc runbook run` drive the same engine.
Commands go to an `Executor` per target (the runner host over SSH, or the operator's
machine); every step is recorded in the journal before and after it runs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from tui.runbooks.journal import Journal, Redactor, output_fields
from tui.runbooks.runbook import ParameterError, Runbook, Step

MAX_STEPS = 200  # a branch loop in a runbook ends here instead of running forever


class StepState(StrEnum):
    PASSED = "passed"  # ran, and its expectations held
    FAILED = "failed"  # ran, and an expectation did not hold
    TIMED_OUT = "timed-out"
    CANCELLED = "cancelled"
    DECLINED = "declined"  # the operator said no: skipped
    SKIPPED = "skipped"
    WOULD_RUN = "would-run"  # dry run
    ERROR = "error"  # could not run at all (connection, missing value)


class Decision(StrEnum):
    RUN = "run"
    SKIP = "skip"
    ABORT = "abort"


class AfterFailure(StrEnum):
    """What the operator wants once a step did not pass."""

    FOLLOW = "follow"  # go where the runbook's on_fail says
    RETRY = "retry"
    ABORT = "abort"


@dataclass(frozen=True)
class CommandResult:
    exit_status: int | None
    output: str
    duration: float
    timed_out: bool = False
    cancelled: bool = False
    error: str | None = None  # could not run: why, in one line


class Executor(Protocol):
    """Runs a fully rendered command somewhere and reports what happened."""

    def run(
        self,
        command: str,
        *,
        timeout: float,
        on_output: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> CommandResult: ...


class LocalExecutor:
    """Runs commands with bash on this machine (the runbooks' `target=local` steps)."""

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env = dict(os.environ if env is None else env)

    def run(
        self,
        command: str,
        *,
        timeout: float,
        on_output: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> CommandResult:
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                ["bash", "-c", command],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,  # so a timeout can stop the whole pipeline
            )
        except OSError as e:
            return CommandResult(None, "", 0.0, error=f"cannot start bash: {e.strerror}")
        chunks: list[str] = []

        def pump() -> None:
            assert proc.stdout is not None
            for raw in iter(lambda: proc.stdout.read1(4096), b""):  # type: ignore[union-attr]
                text = raw.decode("utf-8", "replace")
                chunks.append(text)
                if on_output:
                    on_output(text)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = cancelled = False
        while proc.poll() is None:
            if time.monotonic() - started > timeout:
                timed_out = True
            elif cancel is not None and cancel.is_set():
                cancelled = True
            if timed_out or cancelled:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(3)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait()
        reader.join(2)
        return CommandResult(
            exit_status=None if (timed_out or cancelled) else proc.returncode,
            output="".join(chunks),
            duration=time.monotonic() - started,
            timed_out=timed_out,
            cancelled=cancelled,
        )


@dataclass
class StepOutcome:
    step: Step
    state: StepState
    command: str  # as run, secrets redacted
    exit_status: int | None = None
    output: str = ""
    duration: float = 0.0
    checks: list[str] = field(default_factory=list)  # expected vs actual, one line each
    retried: bool = False  # the operator ran it again; the later attempt counts


@dataclass
class RunResult:
    run_id: str
    outcomes: list[StepOutcome]
    aborted: bool
    reason: str

    @property
    def ok(self) -> bool:
        """Finished, no change failed, and every verification that ran passed."""
        if self.aborted:
            return False
        bad = (StepState.FAILED, StepState.TIMED_OUT, StepState.ERROR, StepState.CANCELLED)
        for o in self.outcomes:
            if o.retried:
                continue
            if o.step.kind in ("remediate", "rollback", "verify") and o.state in bad:
                return False
        return True


Confirm = Callable[[Step, str], Decision]
OnFailure = Callable[["StepOutcome"], AfterFailure]
OnEvent = Callable[[str, StepOutcome | None, str], None]


class RunbookRun:
    """One run of a runbook against one runner.

    `executors` maps a step target (`runner`, `local`) to the Executor that runs it.
    `confirm(step, command)` is asked before every step with confirm=true; in a dry
    run nothing is asked and nothing runs.
    """

    def __init__(
        self,
        runbook: Runbook,
        runner: str,
        values: Mapping[str, str],
        executors: Mapping[str, Executor],
        journal: Journal,
        *,
        confirm: Confirm,
        dry_run: bool = False,
        operator: str = "",
        on_event: OnEvent | None = None,
        on_output: Callable[[Step, str], None] | None = None,
        on_failure: OnFailure | None = None,
    ):
        self.runbook = runbook
        self.runner = runner
        self.values = runbook.resolve(values)  # validates; raises ParameterError
        missing = runbook.missing(self.values)
        if missing:
            raise ParameterError(
                f"runbook {runbook.id} needs a value for {', '.join(missing)} (--param NAME=VALUE)"
            )
        self.executors = executors
        self.journal = journal
        self.confirm = confirm
        self.dry_run = dry_run
        self.operator = operator
        self.on_event = on_event or (lambda kind, outcome, text: None)
        self.on_output = on_output
        self.on_failure = on_failure
        self.cancel = threading.Event()
        self.outcomes: list[StepOutcome] = []
        self.redactor: Redactor = journal.redact
        for name in runbook.secrets:
            if name in self.values:
                self.redactor.add(name, self.values[name])

    # --- flow ---------------------------------------------------------------------------

    def _index(self, name: str) -> int:
        for i, s in enumerate(self.runbook.steps):
            if s.name == name:
                return i
        raise KeyError(name)

    def _next_index(self, current: int, target: str) -> int | None:
        """Where to go after step `current`: None ends the run."""
        if target == "done":
            return None
        if target == "next":
            i = current + 1
            while i < len(self.runbook.steps) and self.runbook.steps[i].kind == "rollback":
                i += 1  # rollback steps run only when a change is undone
            return i if i < len(self.runbook.steps) else None
        return self._index(target)

    def start(
        self,
        *,
        resume_from: str | None = None,
        resumed: bool = False,
        recapture: tuple[str, ...] = (),
    ) -> RunResult:
        if not resumed:
            self.journal.write(
                "run-start",
                runbook=self.runbook.id,
                runner=self.runner,
                operator=self.operator,
                dry_run=self.dry_run,
                params={k: v for k, v in self.values.items() if k not in self.runbook.secrets},
            )
        else:
            self.journal.write("run-resume", operator=self.operator, from_step=resume_from)
        for name in recapture:
            if self.run_step(self.runbook.step(name)).state != StepState.PASSED:
                reason = f"could not capture again with {name}"
                self.journal.write("run-end", ok=False, aborted=True, reason=reason)
                return RunResult(self.journal.run_id, self.outcomes, True, reason)
        if self.dry_run:
            # Branches depend on what commands print, so a dry run shows every command
            # the runbook could run, in page order, rollbacks included.
            for step in self.runbook.steps:
                self.run_step(step)
            self.journal.write("run-end", ok=True, aborted=False, reason="dry run")
            return RunResult(self.journal.run_id, self.outcomes, False, "dry run")
        index: int | None = (
            self._index(resume_from) if resume_from else self._next_index(-1, "next")
        )
        executed = 0
        aborted, reason = False, "finished"
        while index is not None:
            executed += 1
            if executed > MAX_STEPS:
                aborted, reason = True, f"more than {MAX_STEPS} steps: the branches loop"
                break
            step = self.runbook.steps[index]
            outcome = self.run_step(step)
            aborted_by_operator = False
            while (
                self.on_failure is not None
                and outcome.state in (StepState.FAILED, StepState.TIMED_OUT, StepState.ERROR)
                and step.kind != "diagnose"
            ):
                choice = self.on_failure(outcome)
                if choice != AfterFailure.RETRY:
                    aborted_by_operator = choice == AfterFailure.ABORT
                    break
                self.journal.write("retry", step=step.name, operator=self.operator)
                outcome.retried = True
                outcome = self.run_step(step, confirmed=True)
            if aborted_by_operator:
                aborted, reason = True, f"aborted by the operator at {step.name}"
                self._roll_back()
                break
            if outcome.state == StepState.CANCELLED or self.cancel.is_set():
                aborted, reason = True, "cancelled"
                break
            if outcome.state in (StepState.PASSED, StepState.WOULD_RUN, StepState.DECLINED):
                index = self._next_index(index, step.on_pass)
            elif outcome.state == StepState.SKIPPED and outcome.checks == ["aborted"]:
                aborted, reason = True, f"aborted by the operator at {step.name}"
                break
            elif step.on_fail == "abort":
                aborted, reason = True, f"step {step.name} {outcome.state.value}"
                self._roll_back()
                break
            else:
                index = self._next_index(index, step.on_fail)
        result = RunResult(self.journal.run_id, self.outcomes, aborted, reason)
        self.journal.write("run-end", ok=result.ok, aborted=aborted, reason=reason)
        self.on_event("run-end", None, reason)
        return result

    def _roll_back(self) -> None:
        """Undo, newest first, the changes made so far that have a rollback step."""
        done = [
            o.step
            for o in self.outcomes
            if o.step.kind == "remediate" and o.step.rollback and o.state == StepState.PASSED
        ]
        for step in reversed(done):
            assert step.rollback is not None
            self.on_event("rollback", None, f"undoing {step.name} with {step.rollback}")
            self.run_step(self.runbook.step(step.rollback))

    # --- one step -----------------------------------------------------------------------

    def render(self, step: Step) -> str:
        """The command exactly as it will run (captured values included when known)."""
        values = dict(self.values)
        for name in step.placeholders:
            if name not in values:
                capturer = next(s.name for s in self.runbook.steps if s.capture == name)
                values[name] = f"<{name} from step {capturer}>"
        return step.render(values)

    def run_step(self, step: Step, *, confirmed: bool = False) -> StepOutcome:
        """Run one step; `confirmed` when the operator already said yes (a retry)."""
        shown = self.redactor(self.render(step))
        self.on_event("step-start", None, step.name)
        if self.dry_run:
            outcome = StepOutcome(step, StepState.WOULD_RUN, shown)
            self.journal.write(
                "step-end", step=step.name, kind=step.kind, state="would-run", command=shown
            )
            return self._done(outcome)
        missing = [n for n in step.placeholders if n not in self.values]
        if missing:
            outcome = StepOutcome(
                step, StepState.ERROR, shown, checks=[f"no value for {', '.join(missing)}"]
            )
            self.journal.write(
                "step-end",
                step=step.name,
                kind=step.kind,
                state="error",
                command=shown,
                checks=outcome.checks,
            )
            return self._done(outcome)
        if step.confirm and not confirmed:
            decision = self.confirm(step, shown)
            if decision != Decision.RUN:
                state = StepState.DECLINED if decision == Decision.SKIP else StepState.SKIPPED
                outcome = StepOutcome(
                    step, state, shown, checks=["aborted"] if decision == Decision.ABORT else []
                )
                self.journal.write(
                    "step-end",
                    step=step.name,
                    kind=step.kind,
                    state=state.value,
                    command=shown,
                    decision=decision.value,
                )
                return self._done(outcome)
        executor = self.executors.get(step.target)
        if executor is None:
            outcome = StepOutcome(
                step, StepState.ERROR, shown, checks=[f"no way to run {step.target} steps"]
            )
            return self._done(outcome)
        self.journal.write(
            "step-start", step=step.name, kind=step.kind, target=step.target, command=shown
        )
        command = step.render({**self.values})
        result = executor.run(
            command,
            timeout=step.timeout,
            on_output=(lambda text: self.on_output(step, self.redactor(text)))
            if self.on_output
            else None,
            cancel=self.cancel,
        )
        outcome = self._judge(step, shown, result)
        if step.capture and outcome.state == StepState.PASSED:
            value = result.output.strip()
            self.values[step.capture] = value
            param = self.runbook.parameters.get(step.capture)
            if param is not None and param.type == "secret":
                self.redactor.add(step.capture, value)
                outcome.output = self.redactor(outcome.output)
            self.journal.write(
                "captured",
                step=step.name,
                name=step.capture,
                value=None if param is None or param.type == "secret" else value,
                secret=param is not None and param.type == "secret",
            )
        self.journal.write(
            "step-end",
            step=step.name,
            kind=step.kind,
            state=outcome.state.value,
            command=shown,
            exit_status=result.exit_status,
            duration=round(result.duration, 3),
            checks=outcome.checks,
            **output_fields(self.redactor(result.output)),
        )
        return self._done(outcome)

    def _judge(self, step: Step, shown: str, result: CommandResult) -> StepOutcome:
        output = self.redactor(result.output)
        base = dict(
            step=step,
            command=shown,
            exit_status=result.exit_status,
            output=output,
            duration=result.duration,
        )
        if result.error:
            return StepOutcome(state=StepState.ERROR, checks=[result.error], **base)
        if result.cancelled:
            return StepOutcome(state=StepState.CANCELLED, checks=["cancelled"], **base)
        if result.timed_out:
            return StepOutcome(
                state=StepState.TIMED_OUT, checks=[f"no answer within {step.timeout} s"], **base
            )
        checks: list[str] = []
        ok = True
        expected = ",".join(map(str, step.expect_exit))
        if result.exit_status in step.expect_exit:
            checks.append(f"exit status {result.exit_status} (expected {expected})")
        else:
            ok = False
            checks.append(f"exit status {result.exit_status}, expected {expected}")
        if step.expect_output is not None:
            found = re.search(step.expect_output, result.output, re.M) is not None
            ok = ok and found
            checks.append(
                f"output {'matches' if found else 'does not match'} /{step.expect_output}/"
            )
        if step.expect_no_output is not None:
            found = re.search(step.expect_no_output, result.output, re.M) is not None
            ok = ok and not found
            checks.append(
                f"output {'contains' if found else 'is free of'} /{step.expect_no_output}/"
            )
        return StepOutcome(
            state=StepState.PASSED if ok else StepState.FAILED, checks=checks, **base
        )

    def _done(self, outcome: StepOutcome) -> StepOutcome:
        self.outcomes.append(outcome)
        self.on_event("step-end", outcome, outcome.state.value)
        return outcome


@dataclass
class ResumePoint:
    """Where a journalled run stopped and how to go on."""

    runbook: str
    runner: str
    params: dict[str, str]  # given and captured values, secrets excepted
    from_step: str | None  # None: nothing left to do
    reason: str
    # Steps run first, on their own, to capture again the secrets the journal never held.
    recapture: tuple[str, ...] = ()


_GO_ON = (StepState.PASSED, StepState.DECLINED)


def resume_point(records: list[dict], runbook: Runbook) -> ResumePoint:
    """Read a run's journal records and decide which step to run next.

    A step that started but never ended (the process died, the session dropped) runs
    again. A secret that a remaining step needs is not in the journal, so the step
    that captured it runs again too.
    """
    start = next((r for r in records if r.get("type") == "run-start"), None)
    if start is None or start.get("runbook") != runbook.id:
        raise ValueError("the journal does not start a run of this runbook")
    params = {str(k): str(v) for k, v in (start.get("params") or {}).items()}
    for r in records:
        if r.get("type") == "captured" and not r.get("secret") and r.get("value") is not None:
            params[str(r["name"])] = str(r["value"])
    ends = [r for r in records if r.get("type") == "run-end"]
    if ends and ends[-1].get("ok") and not ends[-1].get("aborted"):
        return ResumePoint(runbook.id, start["runner"], params, None, "the run finished")
    if start.get("dry_run"):
        return ResumePoint(runbook.id, start["runner"], params, None, "a dry run ran nothing")
    names = [s.name for s in runbook.steps]
    started = [r["step"] for r in records if r.get("type") == "step-start"]
    ended = [r for r in records if r.get("type") == "step-end"]
    from_step: str | None
    last_start = max(
        (i for i, r in enumerate(records) if r.get("type") == "step-start"), default=-1
    )
    last_end = max((i for i, r in enumerate(records) if r.get("type") == "step-end"), default=-1)
    if started and last_start > last_end:
        from_step, reason = started[-1], f"step {started[-1]} started and never finished"
    elif ended:
        last = ended[-1]
        step = runbook.step(last["step"])
        state = StepState(last["state"])
        target = step.on_pass if state in _GO_ON else step.on_fail
        if state not in _GO_ON and target == "abort":
            from_step, reason = step.name, f"step {step.name} {state.value}: trying it again"
        else:
            i = names.index(step.name)
            if target == "done":
                from_step = None
            elif target == "next":
                rest = [s for s in runbook.steps[i + 1 :] if s.kind != "rollback"]
                from_step = rest[0].name if rest else None
            else:
                from_step = target
            reason = f"after step {step.name} ({state.value})"
    else:
        first = next(s for s in runbook.steps if s.kind != "rollback")
        from_step, reason = first.name, "no step had run"
    recapture: list[str] = []
    if from_step is not None:
        at = names.index(from_step)
        for later in runbook.steps[at:]:
            for name in later.placeholders:
                param = runbook.parameters.get(name)
                if param is not None and param.type == "secret" and name not in params:
                    capturer = next(s for s in runbook.steps if s.capture == name)
                    if names.index(capturer.name) < at and capturer.name not in recapture:
                        recapture.append(capturer.name)
        if recapture:
            reason += f"; {', '.join(recapture)} runs again for its secret"
    return ResumePoint(runbook.id, start["runner"], params, from_step, reason, tuple(recapture))
