"""Running a scenario: each step timed against its deadline, polled with backoff (never a
blind sleep), what was seen kept on failure, and whatever was broken healed at the end."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tui.config import ConfigError
from tui.scenarios.environment import Environment, EnvironmentProblem
from tui.text import safe_text

if TYPE_CHECKING:
    from tui.scenarios.definitions import Scenario

PASSED, FAILED, NOT_RUN, SKIPPED = "passed", "failed", "not run", "skipped"
FIRST_WAIT, MOST_WAIT, GROWTH = 0.25, 2.0, 1.5
SEEN_LIMIT = 4000  # characters of what was seen kept per step


class StepFailed(Exception):
    """The step's assertion does not hold; `seen` says what was there instead."""

    def __init__(self, seen: str):
        super().__init__(seen)
        self.seen = seen


@dataclass
class StepOutcome:
    title: str
    asserts: str
    deadline: float
    state: str
    seconds: float = 0.0
    seen: str = ""
    cleanup: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "asserts": self.asserts,
            "deadline": self.deadline,
            "state": self.state,
            "seconds": round(self.seconds, 2),
            "seen": self.seen,
            "cleanup": self.cleanup,
        }


@dataclass
class ScenarioOutcome:
    name: str
    title: str
    story: str
    state: str
    steps: list[StepOutcome] = field(default_factory=list)
    seconds: float = 0.0
    started_at: float = 0.0
    runners: list[str] = field(default_factory=list)
    finding_seconds: float | None = None  # injection -> the right runbook named first
    recovery_seconds: float | None = None  # injection -> the runner online again
    reason: str = ""  # the first failure, on one line

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "story": self.story,
            "state": self.state,
            "seconds": round(self.seconds, 2),
            "started_at": self.started_at,
            "runners": self.runners,
            "finding_seconds": _rounded(self.finding_seconds),
            "recovery_seconds": _rounded(self.recovery_seconds),
            "reason": self.reason,
            "steps": [s.as_json() for s in self.steps],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class Context:
    """What one scenario run carries from step to step."""

    def __init__(self, env: Environment, scenario: Scenario):
        self.env = env
        self.scenario = scenario
        self.values: dict[str, Any] = {}
        self.marks: dict[str, float] = {}
        self.deadline = 0.0
        # When the last poll began: a check begun before the deadline counts even when the
        # answer (a diagnosis takes seconds) comes after it.
        self.check_started: float | None = None
        self._cleanups: list[tuple[str, str, float, Callable[[Context], str]]] = []

    # ----- time -------------------------------------------------------------------------------

    def mark(self, name: str) -> float:
        self.marks[name] = time.monotonic()
        return self.marks[name]

    def since(self, name: str) -> float:
        return time.monotonic() - self.marks[name]

    def between(self, first: str, last: str) -> float | None:
        if first in self.marks and last in self.marks:
            return self.marks[last] - self.marks[first]
        return None

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def poll(self, check: Callable[[], tuple[bool, str]], *, until: float | None = None) -> str:
        """Call `check` until it says yes or the step's deadline passes; waits grow from a
        quarter second, so a quick change is seen quickly and a slow one costs few calls.

        A check that raises a connection error counts as "not yet", with the error seen.
        """
        deadline = self.deadline if until is None else until
        wait = FIRST_WAIT
        while True:
            self.check_started = time.monotonic()
            try:
                ok, seen = check()
            except (httpx.HTTPError, EnvironmentProblem, ConfigError, OSError) as e:
                ok, seen = False, f"{type(e).__name__}: {e}"
            if ok:
                return seen
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StepFailed(f"not within the deadline; last seen: {seen}")
            time.sleep(min(wait, remaining))
            wait = min(wait * GROWTH, MOST_WAIT * self.env.patience)

    # ----- undo -------------------------------------------------------------------------------

    def on_cleanup(
        self, key: str, title: str, deadline: float, action: Callable[[Context], str]
    ) -> None:
        """Register something to undo at the end, once per key, last registered first."""
        self._cleanups = [c for c in self._cleanups if c[0] != key]
        self._cleanups.append((key, title, deadline, action))

    def done_cleanup(self, key: str) -> None:
        """The scenario undid it itself (e.g. healed as one of its steps)."""
        self._cleanups = [c for c in self._cleanups if c[0] != key]

    def cleanups(self) -> list[tuple[str, str, float, Callable[[Context], str]]]:
        return list(reversed(self._cleanups))


def _run_step(
    ctx: Context, title: str, asserts: str, deadline: float, action: Callable[[Context], str],
    *, cleanup: bool = False,
) -> StepOutcome:  # fmt: skip
    limit = deadline * ctx.env.patience
    outcome = StepOutcome(title, asserts, limit, FAILED, cleanup=cleanup)
    started = time.monotonic()
    ctx.deadline = started + limit
    ctx.check_started = None
    try:
        seen = action(ctx)
        outcome.state = PASSED
    except StepFailed as e:
        seen = e.seen
    except (httpx.HTTPError, EnvironmentProblem, ConfigError, OSError) as e:
        seen = f"{type(e).__name__}: {e}"
    except Exception as e:  # an unexpected answer fails the step, not the whole run
        where = traceback.extract_tb(e.__traceback__)[-1]
        seen = f"{type(e).__name__}: {e} (at {Path(where.filename).name}:{where.lineno})"
    outcome.seconds = time.monotonic() - started
    late = ctx.check_started is None or ctx.check_started > ctx.deadline
    if outcome.state == PASSED and outcome.seconds > limit and late:
        outcome.state = FAILED
        seen = f"took {outcome.seconds:.1f} s, over the deadline of {limit:g} s; {seen}"
    outcome.seen = safe_text(seen or "", keep_newlines=True, limit=SEEN_LIMIT)
    return outcome


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def run_scenario(
    scenario: Scenario, env: Environment, *, on_step: Callable[[StepOutcome], None] | None = None
) -> ScenarioOutcome:
    """Run every step until one fails; then undo, whatever happened (Ctrl-C included)."""
    ctx = Context(env, scenario)
    result = ScenarioOutcome(scenario.name, scenario.title, scenario.story, PASSED)
    result.started_at = time.time()
    started = time.monotonic()
    failed = False
    try:
        for step in scenario.steps:
            if failed:
                limit = step.deadline * env.patience
                result.steps.append(StepOutcome(step.title, step.asserts, limit, NOT_RUN))
                continue
            outcome = _run_step(ctx, step.title, step.asserts, step.deadline, step.action)
            result.steps.append(outcome)
            if on_step:
                on_step(outcome)
            if outcome.state == FAILED:
                failed = True
                result.reason = f"{step.title}: {_first_line(outcome.seen)}"
    finally:
        for _key, title, deadline, action in ctx.cleanups():
            outcome = _run_step(ctx, title, "what the scenario broke is healthy again", deadline,
                                action, cleanup=True)  # fmt: skip
            result.steps.append(outcome)
            if on_step:
                on_step(outcome)
            if outcome.state == FAILED and not failed:
                failed = True
                result.reason = f"cleanup: {title}: {_first_line(outcome.seen)}"
        result.seconds = time.monotonic() - started
        result.state = FAILED if failed else PASSED
        result.runners = list(ctx.values.get("runners", []))
        result.finding_seconds = ctx.between("injected", "finding")
        result.recovery_seconds = ctx.between("injected", "recovered")
    return result


def skipped(scenario: Scenario, why: str) -> ScenarioOutcome:
    return ScenarioOutcome(scenario.name, scenario.title, scenario.story, SKIPPED, reason=why)


@dataclass
class RunOutcome:
    environment: str
    kind: str
    started_at: float
    scenarios: list[ScenarioOutcome]
    seconds: float = 0.0
    location: str = ""

    @property
    def ok(self) -> bool:
        return all(s.state in (PASSED, SKIPPED) for s in self.scenarios)

    def as_json(self) -> dict[str, Any]:
        return {
            "format": "runnerdoc-scenarios/1",
            "environment": self.environment,
            "location": self.location,
            "kind": self.kind,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 2),
            "ok": self.ok,
            "scenarios": [s.as_json() for s in self.scenarios],
        }


def run_all(
    scenarios: Iterable[Scenario],
    env: Environment,
    *,
    on_step: Callable[[StepOutcome], None] | None = None,
    on_scenario: Callable[[ScenarioOutcome], None] | None = None,
    on_start: Callable[[Scenario], None] | None = None,
) -> RunOutcome:
    """Run scenarios one after the other; one that cannot run here is skipped, with why."""
    run = RunOutcome(env.describe(), env.kind, time.time(), [], location=env.location)
    started = time.monotonic()
    for scenario in scenarios:
        why = scenario.cannot_run(env)
        if why:
            outcome = skipped(scenario, why)
        else:
            if on_start:
                on_start(scenario)
            outcome = run_scenario(scenario, env, on_step=on_step)
        run.scenarios.append(outcome)
        if on_scenario:
            on_scenario(outcome)
    run.seconds = time.monotonic() - started
    return run
