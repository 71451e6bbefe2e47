"""The scenarios: INFRA-474's four (degradation detection, automatic failover, monitoring
alerts, system recovery) and one per lab fault kind, each a list of timed, asserting steps.

A step's title and assertion are plain words, so the plan (`scenario run` without
--live) shows exactly what the live run will do and check.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.scenarios.environment import Environment, Ran, SinkAlert
from tui.scenarios.runner import Context, StepFailed
from tui.text import one_line, safe_text

STORY = "INFRA-474"
FALLBACK_LABELS = ("ubuntu-latest",)
FAILOVER_VARIABLE = "CI_RUNNER"
FAILOVER_FOR_SECONDS = 3.0
FAILOVER_RECOVER_SECONDS = 8.0
# Alerts fed by the exporter wait for its next poll, and its budget governor stretches the
# poll interval to a minute while runners change state often (as they do here).
ALERT_DEADLINE = 90.0


@dataclass(frozen=True)
class FaultCase:
    """What a lab fault kind should lead to: the runbook diagnosis names first (and that
    fixes it), and the alert that fires for it, if one does."""

    kind: str
    runbook: str
    alert: str | None
    # Runbook parameters an on-call engineer types in, taken from GitHub's record of the
    # runner before it broke (a deleted registration leaves nothing to read them from).
    params: tuple[str, ...] = ()


FAULT_CASES: dict[str, FaultCase] = {
    c.kind: c
    for c in (
        FaultCase("offline", "runner-offline", "RunnerOffline"),
        FaultCase("disk-full", "degraded-resources", "HostDiskFull"),
        FaultCase("memory-pressure", "degraded-resources", "HostMemoryPressure"),
        FaultCase(
            "registration-expired",
            "registration-clock",
            "RunnerServiceNotActive",
            params=("runner_labels",),
        ),
        FaultCase("network-down", "network-unreachable", "RunnerOffline"),
        FaultCase("docker-down", "docker-daemon", "DockerDaemonDown"),
        FaultCase("clock-skew", "registration-clock", "HostClockSkew"),
        FaultCase("version-deprecated", "version-deprecated", "RunnerVersionDeprecated"),
    )
}


# Where a scenario takes the runbook parameters an on-call engineer would type in.
PARAMETER_SOURCES: dict[str, Callable[[Context], str]] = {
    "runner_labels": lambda ctx: ",".join(ctx.values.get("labels") or []),
}


@dataclass(frozen=True)
class Step:
    title: str
    asserts: str
    deadline: float  # seconds, in the lab; a real fleet stretches it (Environment.patience)
    action: Callable[[Context], str] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    summary: str
    steps: tuple[Step, ...]
    story: str = STORY
    # Faults it injects; a real fleet runs only scenarios whose faults systemctl can undo.
    faults: tuple[str, ...] = ()
    needs_sink: bool = False  # reads the lab's notification sink
    lab_only: str = ""  # why it runs in the lab only, when it does
    undo: str = (
        "heal every runner it broke (`runnerdoc lab heal`) and wait until GitHub shows it online"
    )

    def cannot_run(self, env: Environment) -> str:
        """Why this scenario cannot run in `env`; empty when it can."""
        if env.kind != "lab" and self.lab_only:
            return f"lab only: {self.lab_only}"
        if self.needs_sink and env.sink_file is None:
            return "needs the lab's notification sink"
        missing = [k for k in self.faults if not env.can_inject(k)]
        if missing:
            return f"cannot inject {', '.join(missing)} here (lab only)"
        return ""

    def plan(self) -> list[tuple[str, str, float]]:
        return [(s.title, s.asserts, s.deadline) for s in self.steps]


# ----- small helpers ------------------------------------------------------------------------


def _runner(ctx: Context) -> str:
    return str(ctx.values["runner"])


def _need(ran: Ran, what: str) -> None:
    if ran.exit_status != 0:
        raise StepFailed(f"{what}: {ran.verdict()}\n{ran.tail()}")


def _json_of(ran: Ran) -> Any:
    return json.loads(ran.stdout)


# ----- steps: runners and faults -------------------------------------------------------------


def pick_runner(*, clean: bool = False) -> Step:
    def action(ctx: Context) -> str:
        env = ctx.env

        def check() -> tuple[bool, str]:
            health = env.healthy()
            ready = [name for name, problem in health.items() if not problem]
            if not ready:
                return False, "; ".join(f"{n}: {p}" for n, p in health.items())
            # The least broken first and, among equals, an idle one: a runbook waits for a
            # running job to end.
            busy = {r["name"] for r in env.github_runners() if r.get("busy")}
            order = env.freshest(ready)
            order.sort(key=lambda n: (env.broken.get(n, 0), n in busy))  # stable: ties stay
            ctx.values["candidates"] = order
            return True, ""

        ctx.poll(check)
        order = ctx.values.pop("candidates")
        name, notes = order[0], []
        if clean:
            name, notes = _cleanest(ctx, order)
        ctx.values["runner"] = name
        ctx.values.setdefault("runners", []).append(name)
        ctx.values["labels"] = env.custom_labels(name)
        picked = f"{name} (faults injected into it before: {env.broken.get(name, 0)})"
        return "\n".join([*notes, picked])

    which = (
        "the one diagnosis finds least wrong with, then the one broken least so far"
        if clean
        else "the one broken least so far"
    )
    return Step(
        "Pick a healthy runner",
        f"a runner is online in GitHub with its service active and no fault ({which}, idle "
        "if one is)",
        60,
        action,
    )


def _cleanest(ctx: Context, order: list[str]) -> tuple[str, list[str]]:
    """The runner whose diagnosis finds least wrong: none at all, else the weakest strongest
    finding. A runner healed minutes ago still carries that fault's log lines, and they
    should not be what the next fault's diagnosis is measured against."""
    with ThreadPoolExecutor(max_workers=len(order)) as pool:
        answers = dict(zip(order, pool.map(lambda n: _diagnosis(ctx, n), order), strict=True))

    def strongest(name: str) -> float:
        report = answers[name][0]
        if report is None:
            return 2.0  # diagnosis failed: know nothing, so last
        return max((f["confidence"] for f in report.get("findings") or []), default=0.0)

    best = min(order, key=strongest)  # min keeps the first of equals: the preferred order
    notes = [
        f"{n}: {answers[n][1].splitlines()[0]}" for n in order if answers[n][0] is None
        or answers[n][0].get("findings")
    ]  # fmt: skip
    if notes:
        notes.insert(0, "diagnosis before the fault:")
    return best, notes


def _heal_action(runner: str) -> Callable[[Context], str]:
    def action(ctx: Context) -> str:
        ran = ctx.env.heal(runner)
        _need(ran, f"healing {runner}")
        return ran.tail(2) + "\n" + _wait_healthy(ctx, [runner])

    return action


def _wait_healthy(ctx: Context, runners: list[str]) -> str:
    """Until each runner is healthy as the environment sees it (in the lab: service active,
    listener listening, online in GitHub, no fault). GitHub alone is not enough right after
    a heal: it still shows the runner online from before the restart the heal began."""

    def check() -> tuple[bool, str]:
        health = ctx.env.healthy()
        sick = {r: health.get(r, "unknown") for r in runners if health.get(r, "unknown")}
        if sick:
            return False, "; ".join(f"{r}: {p}" for r, p in sick.items())
        return True, f"{', '.join(runners)} healthy"

    return ctx.poll(check)


def _heal_title(env_kind: str, runner: str) -> str:
    return f"Heal {runner} (`runnerdoc lab heal`)" if env_kind == "lab" else f"Restart {runner}"


def inject(kind: str, *, who: str = "runner") -> Step:
    def action(ctx: Context) -> str:
        runner = _runner(ctx)
        # Registered before the fault goes in, so a half-done injection is healed too.
        ctx.on_cleanup(f"heal:{runner}", _heal_title(ctx.env.kind, runner), 90,
                       _heal_action(runner))  # fmt: skip
        ran = ctx.env.inject(runner, kind)
        ctx.mark("injected")
        ctx.values["injected_at"] = time.time()
        _need(ran, f"injecting {kind}")
        return ran.tail(3)

    return Step(
        f"Inject `{kind}` into the {who}",
        f"`runnerdoc lab fault RUNNER {kind}` exits 0",
        30,
        action,
    )


def _wait_status(ctx: Context, runner: str, status: str) -> str:
    def check() -> tuple[bool, str]:
        seen = ctx.env.github_status(runner)
        return seen == status, f"GitHub: {runner} {seen}"

    return ctx.poll(check)


def github_shows(status: str, *, mark: str | None = None) -> Step:
    def action(ctx: Context) -> str:
        seen = _wait_status(ctx, _runner(ctx), status)
        if mark:
            ctx.mark(mark)
        return seen

    return Step(
        f"GitHub shows the runner {status}",
        f"GitHub's API lists the runner with status {status}",
        60,
        action,
    )


def heal_now() -> Step:
    def action(ctx: Context) -> str:
        runner = _runner(ctx)
        ran = ctx.env.heal(runner)
        _need(ran, f"healing {runner}")
        ctx.done_cleanup(f"heal:{runner}")
        return ran.tail(2) + "\n" + _wait_healthy(ctx, [runner])

    return Step(
        "Heal the runner",
        "`runnerdoc lab heal RUNNER` exits 0, and the runner is healthy again",
        30,
        action,
    )


# ----- steps: diagnosis and runbooks ---------------------------------------------------------


def _findings_text(report: dict[str, Any]) -> str:
    findings = report.get("findings") or []
    if not findings:
        text = "no finding"
    else:
        text = ", ".join(f"{f['runbook']} ({f['confidence']:.2f})" for f in findings)
        evidence = findings[0].get("evidence") or []
        if evidence:
            text += f"\nevidence for {findings[0]['runbook']}:\n" + "\n".join(
                f"  {one_line(line, limit=200)}" for line in evidence[:6]
            )
    notes = report.get("notes") or []
    if notes:
        text += "\nnotes: " + "; ".join(one_line(n, limit=160) for n in notes)
    return text


def _diagnosis(ctx: Context, runner: str) -> tuple[dict[str, Any] | None, str]:
    """`runnerdoc diagnose RUNNER --json`: its report (None when it failed) and in words."""
    ran = ctx.env.run("diagnose", runner, *ctx.env.where, "--json", timeout=90)
    if ran.exit_status != 0:
        return None, f"{ran.verdict()}\n{ran.tail()}"
    try:
        report = _json_of(ran)
    except ValueError:
        return None, f"{ran.verdict()}: not JSON:\n{ran.tail()}"
    return report, _findings_text(report)


def diagnose_names(runbook: str) -> Step:
    def action(ctx: Context) -> str:
        runner = _runner(ctx)
        earlier: list[str] = []  # what diagnosis said before it was right: why it was slow

        def check() -> tuple[bool, str]:
            report, text = _diagnosis(ctx, runner)
            if report is None:
                return False, text
            findings = report.get("findings") or []
            first = findings[0]["runbook"] if findings else None
            ranking = text.splitlines()[0]
            if first != runbook and (not earlier or not earlier[-1].endswith(f": {ranking}")):
                earlier.append(f"  after {ctx.since('injected'):.1f} s: {ranking}")
            return first == runbook, text

        try:
            seen = ctx.poll(check)
        except StepFailed as e:
            raise StepFailed("\n".join([e.seen, "first answers:", *earlier[:5]])) from None
        ctx.mark("finding")
        if earlier:
            seen = "\n".join(["before that:", *earlier[:5], seen])
        return seen

    return Step(
        f"Diagnosis names {runbook} first",
        f"`runnerdoc diagnose RUNNER --json` lists {runbook} as the most likely finding",
        60,
        action,
    )


OUTPUT_HEADING = "output (last lines):"
_JOB_RUNNING = re.compile(r"Runner\.Worker|A job is running here")
JOB_RETRIES = 3


def _journal_cause(output: str) -> str:
    """The step that stopped a run, from the run's journal: its command, checks and output."""
    found = re.search(r"\(journal (\S+?\.jsonl)\)", output)
    if not found:
        return ""
    try:
        records = [json.loads(line) for line in Path(found.group(1)).read_text().splitlines()]
    except (OSError, ValueError):
        return f"(journal {found.group(1)} unreadable)"
    end = next((r for r in reversed(records) if r.get("type") == "run-end"), {})
    steps = [r for r in records if r.get("type") == "step-end"]
    named = re.match(r"step (\S+) ", str(end.get("reason", "")))
    cause = None
    if named:
        cause = next((r for r in reversed(steps) if r.get("step") == named.group(1)), None)
    if cause is None:
        cause = next((r for r in reversed(steps) if r.get("state") != "passed"), None)
    lines = [f"journal {found.group(1)}: run-end {end.get('reason', '(none: the run stopped)')}"]
    if cause:
        output_tail = [ln for ln in str(cause.get("output", "")).splitlines() if ln.strip()][-10:]
        lines += [
            f"step {cause.get('step')} ({cause.get('kind')}) {cause.get('state')}, "
            f"exit {cause.get('exit_status')}",
            "command: " + one_line(str(cause.get("command", "")), limit=300),
            "checks: " + "; ".join(str(c) for c in cause.get("checks") or []),
            OUTPUT_HEADING,
            *(f"  {safe_text(ln, limit=300)}" for ln in output_tail),
        ]
    return "\n".join(lines)


def stopped_by_a_job(output: str) -> tuple[bool, str]:
    """Whether a `runbook run` stopped because a job was running on the runner (its guards
    refuse to pull the runner from under a job), and the stopping step from its journal."""
    cause = _journal_cause(output)
    # What the step printed, not its command (the guards name Runner.Worker too).
    return bool(_JOB_RUNNING.search(cause.partition(OUTPUT_HEADING)[2])), cause


def _idle(ctx: Context, runner: str) -> tuple[bool, str]:
    record = ctx.env.github_runner(runner)
    busy = bool(record and record.get("busy"))
    return not busy, f"GitHub shows {runner} {'busy' if busy else 'idle'}"


def runbook_fixes(runbook: str, params: tuple[str, ...] = ()) -> Step:
    def action(ctx: Context) -> str:
        runner = _runner(ctx)
        given = []
        for name in params:
            given += ["--param", f"{name}={PARAMETER_SOURCES[name](ctx)}"]
        waited = []
        while True:
            ran = ctx.env.run(
                "runbook", "run", runbook, "--runner", runner, *ctx.env.where, "--yes", *given,
                timeout=max(ctx.left(), 1.0),
            )  # fmt: skip
            # The run's last line is its verdict: "run ID: ok" or "run ID: FAILED (why); ...".
            verdicts = re.findall(r"^run \S+: (?:ok|FAILED.*)$", ran.output, re.M)
            if ran.exit_status == 0 and verdicts and verdicts[-1].endswith(": ok"):
                return "\n".join([*waited, f"{ran.verdict()}: {verdicts[-1]}"])
            job_ran, cause = stopped_by_a_job(ran.output)
            if len(waited) >= JOB_RETRIES or not job_ran:
                raise StepFailed("\n".join([*waited, ran.verdict(), cause or ran.tail(20)]))
            # The runbooks stop rather than pull the runner from under a job, and say: wait
            # for the job to end and run again. So does the scenario.
            stopped = cause.splitlines()[0] if cause else ran.verdict()
            idle = ctx.poll(lambda: _idle(ctx, runner))
            waited.append(f"{ran.verdict()}: a job was running ({stopped}); {idle}, so again:")

    hint = " with the runner's labels as --param runner_labels" if params else ""
    return Step(
        f"Runbook {runbook} fixes it",
        f"`runnerdoc runbook run {runbook} --runner RUNNER --yes`{hint} runs every step over "
        "SSH and ends ok (exit 0); stopped by a running job, it runs again once GitHub shows "
        "the runner idle, as the runbook says",
        240,
        action,
    )


# ----- steps: alerts ---------------------------------------------------------------------------


def alert_raised(alerts: tuple[str, ...], *, firing: bool) -> Step:
    wanted = {"firing"} if firing else {"pending", "firing"}
    names = " or ".join(alerts)

    def action(ctx: Context) -> str:
        runner = _runner(ctx)

        def check() -> tuple[bool, str]:
            seen = []
            for alert in alerts:
                states = ctx.env.alert_states(alert, runner)
                if states & wanted:
                    ctx.values["alert"] = alert
                    return True, f"{alert} {'/'.join(sorted(states))} for {runner}"
                seen.append(f"{alert}: {'/'.join(sorted(states)) or 'not raised'}")
            return False, "; ".join(seen)

        return ctx.poll(check)

    state = "firing" if firing else "pending or firing"
    return Step(
        f"{names} {'fires' if firing else 'is raised'} in Prometheus",
        f"Prometheus's ALERTS shows {names} {state} for the runner",
        ALERT_DEADLINE,
        action,
    )


def _sink_since(
    ctx: Context, alertname: str | None, status: str, about: tuple[str, ...] | None = None
) -> list[SinkAlert]:
    """Notifications since the injection, of this alert and status, naming all of `about`
    (the scenario's runner unless given)."""
    since = float(ctx.values.get("injected_at", 0.0))
    names = (_runner(ctx),) if about is None else about
    return [
        a
        for a in ctx.env.sink_alerts()
        if a.received >= since
        and a.status == status
        and (alertname is None or a.alertname == alertname)
        and all(a.names(n) for n in names)
    ]


_RUNBOOK_PAGE = re.compile(r"/runbooks/([a-z0-9][a-z0-9-]*)(\.html|/)?$")
# Labels that say what an inhibiting alert is about (a pool, a runner, a host).
_SUBJECT_LABELS = ("pool", "runner", "instance")


@dataclass(frozen=True)
class _Page:
    """The alert Alertmanager sends in place of an inhibited one (RunnerPoolEmpty for the
    RunnerOffline of a pool's last runner): its name, what it is about, its runbook."""

    alertname: str
    about: tuple[str, ...]
    runbook_url: str

    @classmethod
    def of(cls, alert: Mapping[str, Any]) -> _Page | None:
        labels, notes = alert.get("labels") or {}, alert.get("annotations") or {}
        url = str(notes.get("runbook_url") or "")
        if not _RUNBOOK_PAGE.search(url):
            return None
        about = tuple(str(labels[k]) for k in _SUBJECT_LABELS if labels.get(k))
        return cls(str(labels.get("alertname", "?")), about, url)

    def describe(self) -> str:
        return f"{self.alertname} ({', '.join(self.about) or 'no subject'})"

    def in_sink(self, ctx: Context, status: str) -> list[SinkAlert]:
        found = _sink_since(ctx, self.alertname, status, self.about)
        return [a for a in found if a.runbook_url == self.runbook_url]


def alert_notified(runbook: str | None = None) -> Step:
    """The firing alert is sent on with its rule's runbook_url: in the lab, Alertmanager's
    notification lands in the sink; elsewhere, Alertmanager's API holds it active.

    An alert an inhibit rule holds back counts when the alert inhibiting it is sent on
    instead, as the rules intend (one page for a pool, not one per runner).
    """

    def action(ctx: Context) -> str:
        alert = str(ctx.values["alert"])
        expected = ctx.env.rule_runbook_url(alert)
        if not expected:
            raise StepFailed(f"Prometheus's rule {alert} has no runbook_url annotation")
        page = _RUNBOOK_PAGE.search(expected)
        if page is None:
            raise StepFailed(f"{alert}'s runbook_url {expected} is not a runbook's page")
        if runbook is not None and page.group(1) != runbook:
            raise StepFailed(f"{alert}'s runbook_url {expected} is not the {runbook} page")
        runner = _runner(ctx)

        def instead(held: list[dict[str, Any]]) -> list[_Page]:
            pages = [_Page.of(a) for a in ctx.env.inhibitors(held)]
            return [p for p in pages if p is not None]

        def in_sink() -> tuple[bool, str]:
            found = _sink_since(ctx, alert, "firing")
            good = [a for a in found if a.runbook_url == expected]
            if good:
                return True, f"{alert} firing at {good[0].path}, runbook_url {expected}"
            if found:
                return False, f"{alert} arrived with runbook_url {found[0].runbook_url}"
            for other in instead(ctx.env.alertmanager_alerts(alert, runner)):
                sent = other.in_sink(ctx, "firing")
                if sent:
                    ctx.values["paged_as"] = other
                    return True, (
                        f"{alert} is held back by the inhibit rule, as designed: "
                        f"{other.describe()} reached the sink at {sent[0].path} in its place, "
                        f"runbook_url {other.runbook_url}"
                    )
            return False, f"no firing {alert} for {runner} in the sink yet"

        def in_alertmanager() -> tuple[bool, str]:
            held = ctx.env.alertmanager_alerts(alert, runner)
            active = [a for a in held if a["status"]["state"] == "active"]
            good = [a for a in active if a.get("annotations", {}).get("runbook_url") == expected]
            if good:
                return True, f"{alert} active in Alertmanager, runbook_url {expected}"
            others = instead(held)
            if others:
                ctx.values["paged_as"] = others[0]
                return True, (
                    f"{alert} is held back by the inhibit rule in favour of "
                    f"{others[0].describe()}, runbook_url {others[0].runbook_url}"
                )
            if held:
                return False, f"Alertmanager holds {alert} {held[0]['status']['state']}"
            return False, f"Alertmanager holds no {alert} for {runner} yet"

        return ctx.poll(in_sink if ctx.env.sink_file is not None else in_alertmanager)

    which = f"the {runbook} page" if runbook else "its runbook's page on the site"
    return Step(
        "The alert reaches the sink with its runbook_url",
        "Alertmanager's notification of the firing alert is in the lab sink's JSONL (on a "
        "real fleet: Alertmanager holds it active), naming the runner and linking the alert "
        f"rule's runbook_url ({which}); or, when an inhibit rule holds it back, the alert "
        "inhibiting it is sent in its place with its own runbook_url",
        60,
        action,
    )


def alert_resolved(alert: str | None = None) -> Step:
    def action(ctx: Context) -> str:
        runner = _runner(ctx)
        name = alert or str(ctx.values["alert"])
        injected_at = float(ctx.values.get("injected_at", 0.0))

        def check() -> tuple[bool, str]:
            states = ctx.env.alert_states(name, runner)
            if states:
                return False, f"Prometheus: {name} still {'/'.join(sorted(states))}"
            held = ctx.env.alertmanager_alerts(name, runner)
            if held:
                return False, f"Alertmanager still holds {name} ({held[0]['status']['state']})"
            if ctx.env.sink_file is None:
                return True, f"{name} resolved in Prometheus and Alertmanager"
            notified = sorted(
                (a for a in ctx.env.sink_alerts()
                 if a.received >= injected_at and a.alertname == name and a.names(runner)),
                key=lambda a: a.received,
            )  # fmt: skip
            fired = any(a.status == "firing" for a in notified)
            if fired and notified[-1].status != "resolved":
                return False, f"the sink's last word on {name} is firing: no resolved yet"
            how = "resolved notification in the sink" if fired else "it never reached the sink"
            paged: _Page | None = ctx.values.get("paged_as")
            if paged is not None:
                if not paged.in_sink(ctx, "resolved"):
                    return False, f"no resolved {paged.describe()} in the sink yet"
                how = f"{paged.describe()}, sent in its place, resolved in the sink"
            return True, f"{name} resolved in Prometheus and Alertmanager ({how})"

        return ctx.poll(check)

    names = alert or "the alert"
    return Step(
        f"{names} resolves",
        f"Prometheus no longer shows {names} for the runner, Alertmanager holds none, and if "
        "the sink was notified of it firing, it was notified of it resolved",
        ALERT_DEADLINE,
        action,
    )


def sink_resolved() -> Step:
    def action(ctx: Context) -> str:
        alert = str(ctx.values["alert"])

        def check() -> tuple[bool, str]:
            found = _sink_since(ctx, alert, "resolved")
            if found:
                return True, f"{alert} resolved at {found[0].path}: {found[0].text.splitlines()[0]}"
            return False, f"no resolved {alert} for {_runner(ctx)} in the sink yet"

        return ctx.poll(check)

    return Step(
        "The sink records the resolved notification",
        "Alertmanager sends the alert's resolved notification, and the lab sink records it",
        60,
        action,
    )


# ----- steps: failover -----------------------------------------------------------------------


def _failover_state(ctx: Context) -> dict[str, Any]:
    try:
        return json.loads(Path(ctx.values["state_file"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _watch_once(ctx: Context) -> tuple[str | None, dict[str, Any]]:
    env = ctx.env
    scope = env.settings.scope
    assert scope is not None
    where = ["--variable-scope", scope.kind]
    if scope.kind == "repo":
        where += ["--variable-repo", scope.name]
    ran = env.run(
        "failover", "watch", *env.where, "--once",
        "--pool", str(ctx.values["pool"]), "--min-online", str(ctx.values["min_online"]),
        "--for-seconds", f"{FAILOVER_FOR_SECONDS:g}",
        "--recover-seconds", f"{FAILOVER_RECOVER_SECONDS:g}",
        "--variable", FAILOVER_VARIABLE, "--fallback-labels", json.dumps(list(FALLBACK_LABELS)),
        *where, "--state-file", str(ctx.values["state_file"]),
        timeout=60,
    )  # fmt: skip
    _need(ran, "failover watch --once")
    value = env.variable(FAILOVER_VARIABLE)
    ctx.values.setdefault("samples", []).append(value)
    return value, _failover_state(ctx)


def pick_pool() -> Step:
    def action(ctx: Context) -> str:
        env = ctx.env

        def check() -> tuple[bool, str]:
            health = env.healthy()
            pools = {
                name: sorted(r["name"] for r in records)
                for name, records in env.pools().items()
                if all(r["name"] in health and not health[r["name"]] for r in records)
            }
            if not pools:
                return False, "no pool has every runner healthy: " + "; ".join(
                    f"{n}: {p}" for n, p in health.items() if p
                )
            pool = max(sorted(pools), key=lambda p: len(pools[p]))
            size = len(pools[pool])
            least = (size + 1) // 2
            ctx.values.update(pool=pool, min_online=least, victims=pools[pool][: size - least + 1])
            return True, (
                f"pool {pool}: {size} runner(s) online ({', '.join(pools[pool])}); minimum {least}"
            )

        seen = ctx.poll(check)
        current = env.variable(FAILOVER_VARIABLE)
        if current is not None:
            raise StepFailed(f"{FAILOVER_VARIABLE} is already set ({one_line(current, 80)})")
        state = env.workdir / f"failover-{ctx.values['pool']}.json"
        state.unlink(missing_ok=True)
        ctx.values["state_file"] = str(state)
        ctx.values["runners"] = list(ctx.values["victims"])
        if hasattr(env, "variable_writes"):
            ctx.values["writes_before"] = len(env.variable_writes(FAILOVER_VARIABLE)[0])
        return f"{seen}; {FAILOVER_VARIABLE} not set"

    return Step(
        "Pick the largest healthy pool",
        f"every runner of the pool is online; {FAILOVER_VARIABLE} is not set; the minimum is "
        "half the pool, rounded up",
        60,
        action,
    )


def watch_leaves_healthy_pool() -> Step:
    def action(ctx: Context) -> str:
        value, state = _watch_once(ctx)
        if value is not None or state.get("mode") != "primary":
            raise StepFailed(f"{FAILOVER_VARIABLE}={value}, mode {state.get('mode')}")
        return f"mode primary, {state.get('online')} online, {FAILOVER_VARIABLE} not set"

    return Step(
        "Failover leaves a healthy pool alone",
        "`runnerdoc failover watch --once` exits 0, stays primary, and sets no "
        f"{FAILOVER_VARIABLE}",
        30,
        action,
    )


def take_pool_down() -> Step:
    def action(ctx: Context) -> str:
        done = []
        for runner in ctx.values["victims"]:
            ctx.on_cleanup(f"heal:{runner}", _heal_title(ctx.env.kind, runner), 90,
                           _heal_action(runner))  # fmt: skip
            ran = ctx.env.inject(runner, "offline")
            ctx.mark("injected")
            _need(ran, f"injecting offline into {runner}")
            done.append(runner)
        pool, least = ctx.values["pool"], ctx.values["min_online"]

        def check() -> tuple[bool, str]:
            online = [
                r["name"] for r in ctx.env.pools().get(pool, []) if r.get("status") == "online"
            ]
            return len(online) < least, f"{len(online)} online in GitHub ({', '.join(online)})"

        seen = ctx.poll(check)
        return f"offline: {', '.join(done)}; {seen}"

    return Step(
        "Take the pool below its minimum",
        "`runnerdoc lab fault R offline` for enough of its runners exits 0, and GitHub shows "
        "fewer runners online than the minimum",
        60,
        action,
    )


def watch_fails_over() -> Step:
    def action(ctx: Context) -> str:
        fallback = json.dumps(list(FALLBACK_LABELS))

        def check() -> tuple[bool, str]:
            value, state = _watch_once(ctx)
            if value is None:
                return False, f"mode {state.get('mode')}, short since {state.get('short_since')}"
            if value != fallback:
                raise StepFailed(f"{FAILOVER_VARIABLE} set to {value}, not {fallback}")
            return True, f"{FAILOVER_VARIABLE}={value}"

        seen = ctx.poll(check)
        ctx.on_cleanup("variable", f"Remove {FAILOVER_VARIABLE} left by the scenario", 30,
                       _remove_variable)  # fmt: skip
        state = _failover_state(ctx)
        switch = (state.get("history") or [{}])[-1]
        waited = float(switch.get("at", 0)) - float(state.get("short_since") or 0)
        if waited < FAILOVER_FOR_SECONDS - 0.5:
            raise StepFailed(f"switched {waited:.1f} s after the pool went short, before "
                             f"{FAILOVER_FOR_SECONDS:g} s")  # fmt: skip
        again, _ = _watch_once(ctx)
        if again != fallback:
            raise StepFailed(f"the next watch changed {FAILOVER_VARIABLE} to {again}")
        return f"{seen}, {waited:.1f} s after the pool went short; still set on the next poll"

    return Step(
        "Failover sends the pool's jobs to the fallback labels",
        f"`runnerdoc failover watch --once` (for {FAILOVER_FOR_SECONDS:g} s) sets "
        f"{FAILOVER_VARIABLE} to {json.dumps(list(FALLBACK_LABELS))}, not before the pool was "
        "short that long, and the next poll keeps it",
        40,
        action,
    )


def _remove_variable(ctx: Context) -> str:
    ctx.env.delete_variable(FAILOVER_VARIABLE)
    return f"{FAILOVER_VARIABLE} deleted"


def heal_pool() -> Step:
    def action(ctx: Context) -> str:
        for runner in ctx.values["victims"]:
            ran = ctx.env.heal(runner)
            _need(ran, f"healing {runner}")
            ctx.done_cleanup(f"heal:{runner}")
        return _wait_healthy(ctx, list(ctx.values["victims"]))

    return Step(
        "Heal the pool's runners",
        "`runnerdoc lab heal R` exits 0 for each, and each is healthy (online in GitHub) again",
        60,
        action,
    )


def watch_fails_back() -> Step:
    def action(ctx: Context) -> str:
        kept = 0

        def check() -> tuple[bool, str]:
            nonlocal kept
            value, state = _watch_once(ctx)
            healthy_since = state.get("healthy_since")
            if value is not None:
                kept += 1
                return False, f"{FAILOVER_VARIABLE} still set; healthy since {healthy_since}"
            history = state.get("history") or []
            back = next((h for h in reversed(history) if h.get("switch") == "fail-back"), None)
            if back is None:
                raise StepFailed(f"{FAILOVER_VARIABLE} is gone, but failover did not delete it")
            # The state keeps when the pool was first seen healthy again, past the switch.
            waited = float(back["at"]) - float(healthy_since or back["at"])
            if waited < FAILOVER_RECOVER_SECONDS - 0.5:
                raise StepFailed(
                    f"deleted {waited:.1f} s after the pool was healthy, before "
                    f"{FAILOVER_RECOVER_SECONDS:g} s"
                )
            return True, (
                f"{FAILOVER_VARIABLE} deleted {waited:.1f} s after the pool was healthy "
                f"again; kept through {kept} poll(s) before that"
            )

        seen = ctx.poll(check)
        ctx.mark("recovered")
        ctx.done_cleanup("variable")
        return seen

    return Step(
        "Failover brings the jobs back after the recover time",
        f"`runnerdoc failover watch --once` keeps {FAILOVER_VARIABLE} while the pool has been "
        f"healthy for less than {FAILOVER_RECOVER_SECONDS:g} s, then deletes it",
        45,
        action,
    )


def never_flaps() -> Step:
    def action(ctx: Context) -> str:
        value, state = _watch_once(ctx)
        if value is not None:
            raise StepFailed(f"{FAILOVER_VARIABLE} came back: {value}")
        switches = [h.get("switch") for h in state.get("history") or []]
        if switches != ["fail-over", "fail-back"]:
            raise StepFailed(f"switches recorded: {switches}")
        samples = ctx.values.get("samples", [])
        changes = sum(1 for a, b in itertools.pairwise(samples) if a != b)
        if changes != 2:
            raise StepFailed(f"{FAILOVER_VARIABLE} changed {changes} times over {len(samples)} "
                             f"polls: {samples}")  # fmt: skip
        seen = f"switches {switches}; {FAILOVER_VARIABLE} changed twice over {len(samples)} polls"
        if "writes_before" in ctx.values:
            writes, complete = ctx.env.variable_writes(FAILOVER_VARIABLE)  # type: ignore[attr-defined]
            if complete:
                new = writes[ctx.values["writes_before"] :]
                methods = [w.split()[0] for w in new]
                if len(new) != 2 or methods[-1] != "DELETE":
                    raise StepFailed(f"GitHub got {len(new)} writes of the variable: {new}")
                seen += f"; GitHub got exactly two writes: {'; '.join(new)}"
            else:
                seen += "; (the simulator's request log wrapped: writes not counted)"
        return seen

    return Step(
        "Failover never flaps",
        "one more poll leaves the variable unset; the state file records exactly one fail-over "
        "and one fail-back; the variable changed exactly twice (and, in the lab, GitHub got "
        "exactly one write and one delete)",
        30,
        action,
    )


# ----- the catalogue -------------------------------------------------------------------------


def _fault_scenario(case: FaultCase) -> Scenario:
    steps = [pick_runner(clean=True), inject(case.kind), diagnose_names(case.runbook)]
    if case.alert:
        # The on-call's order: the alert fires and is sent on before anyone fixes a thing.
        steps += [alert_raised((case.alert,), firing=True), alert_notified()]
    steps += [
        runbook_fixes(case.runbook, case.params),
        github_shows("online", mark="recovered"),
    ]
    if case.alert:
        steps.append(alert_resolved(case.alert))
    return Scenario(
        name=f"fault-{case.kind}",
        title=f"Fault {case.kind}: diagnosed, fixed by {case.runbook}",
        summary=(
            f"inject {case.kind}; diagnosis names {case.runbook} first"
            + (f"; {case.alert} fires and is sent on with its runbook_url" if case.alert else "")
            + "; the runbook, run with --yes over SSH, brings the runner back online"
            + (f"; {case.alert} resolves and is notified resolved" if case.alert else "")
        ),
        steps=tuple(steps),
        faults=(case.kind,),
    )


def _degradation_detection() -> Scenario:
    return Scenario(
        name="degradation-detection",
        title="Degradation detection: a full disk is alerted on and diagnosed",
        summary=(
            "inject disk-full; diagnosis names degraded-resources first; HostDiskFull (or "
            "HostDiskFillingUp) fires in Prometheus and its notification reaches the sink with "
            "its runbook_url"
        ),
        steps=(
            pick_runner(clean=True),
            inject("disk-full"),
            # Diagnosis first, so its time from injection is the diagnosis's own.
            diagnose_names("degraded-resources"),
            alert_raised(("HostDiskFull", "HostDiskFillingUp"), firing=True),
            alert_notified("degraded-resources"),
        ),
        faults=("disk-full",),
        needs_sink=True,
        lab_only="it reads the lab's notification sink",
    )


def _automatic_failover() -> Scenario:
    return Scenario(
        name="automatic-failover",
        title="Automatic failover: a short pool's jobs go to the fallback labels and come back",
        summary=(
            "take a pool below its minimum with offline runners; `failover watch --once` sets "
            f"{FAILOVER_VARIABLE} to the fallback labels; heal them; after the recover time the "
            "variable is deleted; it never flaps"
        ),
        steps=(
            pick_pool(),
            watch_leaves_healthy_pool(),
            take_pool_down(),
            watch_fails_over(),
            heal_pool(),
            watch_fails_back(),
            never_flaps(),
        ),
        faults=("offline",),
        lab_only=f"it changes the {FAILOVER_VARIABLE} variable every workflow of the scope reads",
        undo=(
            "heal every runner it broke (`runnerdoc lab heal`), wait until GitHub shows them "
            f"online, and delete {FAILOVER_VARIABLE} if the scenario left it set"
        ),
    )


def _monitoring_alerts() -> Scenario:
    return Scenario(
        name="monitoring-alerts",
        title="Monitoring alerts: an alert fires, notifies with its runbook, and resolves",
        summary=(
            "inject docker-down; DockerDaemonDown fires and reaches the sink with its "
            "runbook_url; heal; the alert resolves and the sink records the resolved notification"
        ),
        steps=(
            pick_runner(),
            inject("docker-down"),
            alert_raised(("DockerDaemonDown",), firing=True),
            alert_notified("docker-daemon"),
            heal_now(),
            alert_resolved("DockerDaemonDown"),
            sink_resolved(),
        ),
        faults=("docker-down",),
        needs_sink=True,
        lab_only="it reads the lab's notification sink",
    )


def _system_recovery() -> Scenario:
    return Scenario(
        name="system-recovery",
        title="System recovery: an offline runner is brought back by its runbook",
        summary=(
            "inject offline; GitHub shows the runner offline; `runnerdoc runbook run "
            "runner-offline --yes` brings it back online"
        ),
        steps=(
            pick_runner(),
            inject("offline"),
            github_shows("offline"),
            runbook_fixes("runner-offline"),
            github_shows("online", mark="recovered"),
        ),
        faults=("offline",),
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _degradation_detection(),
        _automatic_failover(),
        _monitoring_alerts(),
        _system_recovery(),
        *(_fault_scenario(c) for c in FAULT_CASES.values()),
    )
}
