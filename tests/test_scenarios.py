"""Failure scenarios (`runnerdoc scenario`): plans that touch nothing, the step runner, the
reports, and every scenario run live against one real lab (`runnerdoc lab up --runners 4`)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from scenario_samples import sample_results

from lab import processes
from lab.faults import KINDS
from tui.runbooks.parse import load_runbooks
from tui.scenarios.definitions import (
    FAULT_CASES,
    PARAMETER_SOURCES,
    SCENARIOS,
    Scenario,
    Step,
    alert_notified,
    stopped_by_a_job,
)
from tui.scenarios.environment import sink_alerts
from tui.scenarios.reports import (
    GENERATED,
    latest_results_markdown,
    report_markdown,
    scenario_results_markdown,
    write_reports,
)
from tui.scenarios.runner import StepFailed, run_all, run_scenario

ROOT = Path(__file__).resolve().parent.parent
RUNNERDOC = [sys.executable, "-m", "tui.cli"]
INFRA_474 = ("degradation-detection", "automatic-failover", "monitoring-alerts", "system-recovery")


def runnerdoc(*args: str, env: dict[str, str], timeout: float = 60, **kw: Any):
    return subprocess.run(
        [*RUNNERDOC, *args], env=env, capture_output=True, text=True, timeout=timeout, **kw
    )


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """Every place runnerdoc could write or read state, pointed into an empty folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNERDOC_"))}
    env.update(
        HOME=str(tmp_path / "home"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        RUNNERDOC_LAB_DIR=str(tmp_path / "lab"),
        RUNNERDOC_JOURNAL_DIR=str(tmp_path / "journal"),
    )
    return env


# ----- the catalogue ----------------------------------------------------------------------------


def test_infra_474_and_every_lab_fault_have_a_scenario() -> None:
    faults = [k for k, v in KINDS.items() if v.runbook]  # no-sudo is access, not a runner fault
    assert list(SCENARIOS) == [*INFRA_474, *(f"fault-{k}" for k in faults)]


@pytest.mark.parametrize("kind", list(FAULT_CASES))
def test_fault_map_agrees_with_the_lab_and_the_runbooks(kind: str) -> None:
    case = FAULT_CASES[kind]
    assert case.runbook == KINDS[kind].runbook, "the lab's fault table names another runbook"
    runbooks = load_runbooks()
    if case.alert:
        rules = yaml.safe_load((ROOT / "monitoring/prometheus/runnerdoc.rules.yml").read_text())
        alerts = {r.get("alert") for g in rules["groups"] for r in g["rules"]}
        assert case.alert in alerts, f"no alert rule {case.alert}"
        assert any(case.alert in book.alerts for book in runbooks.values())
    for name in case.params:
        assert name in runbooks[case.runbook].parameters and name in PARAMETER_SOURCES


@pytest.mark.parametrize("kind", [k for k, c in FAULT_CASES.items() if c.alert])
def test_each_fault_alerts_notifies_and_resolves_before_and_after_its_runbook(kind: str) -> None:
    # Issue 7: the alert a fault raises fires, reaches the sink with its runbook_url, and
    # resolves after remediation, in that order around the runbook.
    case = FAULT_CASES[kind]
    titles = [step.title for step in SCENARIOS[f"fault-{kind}"].steps]
    order = [
        f"{case.alert} fires in Prometheus",
        "The alert reaches the sink with its runbook_url",
        f"Runbook {case.runbook} fixes it",
        f"{case.alert} resolves",
    ]
    assert [t for t in titles if t in order] == order, titles


# ----- plans: printed, touching nothing ------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_plan_prints_every_step_and_touches_nothing(name: str, tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    result = runnerdoc("scenario", "run", name, "--lab", env=env)
    assert result.returncode == 0, result.stderr
    for title, asserts, deadline in SCENARIOS[name].plan():
        assert title in result.stdout
        assert f"asserts: {asserts}" in result.stdout
        assert f"[deadline {deadline:g} s]" in result.stdout
    assert f"finally, whatever happened: {SCENARIOS[name].undo}" in result.stdout
    assert "nothing was touched" in result.stdout
    # No lab was looked for, no journal, state or config written, nothing in $HOME.
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_plan_mode_builds_no_environment(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import tui.scenarios.environment as environment
    from tui.cli import main

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a plan must not reach any environment or run anything")

    monkeypatch.setattr(environment, "LabEnvironment", refuse)
    monkeypatch.setattr(environment, "RealEnvironment", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    assert main(["scenario", "run", "--all"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}: " in out for name in SCENARIOS)


def test_list_json_carries_each_step(tmp_path: Path) -> None:
    result = runnerdoc("scenario", "list", "--json", env=isolated_env(tmp_path))
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [s["name"] for s in listed] == list(SCENARIOS)
    failover = next(s for s in listed if s["name"] == "automatic-failover")
    assert failover["lab_only"] and failover["story"] == "INFRA-474"
    assert any("flaps" in step["title"] for step in failover["steps"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--all", "--report", "out"], "--report needs --live"),
        ([], "name one or more scenarios, or --all"),
        (["no-such-scenario"], "no scenario no-such-scenario"),
        (["fault-offline", "--live", "--lab"], "no running lab"),
        (["fault-offline", "--live", "--lab", "--target", "r1"], "--target is for a real fleet"),
        (["fault-offline", "--live", "--target", "r1"], "needs both --config FILE and --target"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = runnerdoc("scenario", "run", *args, env=isolated_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def real_config(tmp_path: Path) -> Path:
    config = tmp_path / "fleet.toml"
    config.write_text(
        '[github]\napi_url = "http://127.0.0.1:9"\norg = "acme"\ntoken = "t"\n'
        '[prometheus]\nurl = "http://127.0.0.1:9"\n'
    )
    config.chmod(0o600)
    return config


def test_a_real_runner_is_not_broken_without_a_terminal(tmp_path: Path) -> None:
    config = real_config(tmp_path)
    result = runnerdoc(
        "scenario", "run", "fault-offline", "--live", "--config", str(config),
        "--target", "build-01", env=isolated_env(tmp_path), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2
    assert "needs a confirmation at a terminal (or --yes-really)" in result.stderr
    assert "breaks build-01 on purpose (offline)" in result.stderr


def test_a_lab_only_scenario_is_refused_on_a_real_fleet(tmp_path: Path) -> None:
    result = runnerdoc(
        "scenario", "run", "automatic-failover", "--live", "--config",
        str(real_config(tmp_path)), "--target", "build-01", "--yes-really",
        env=isolated_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 2
    assert "lab only" in result.stderr and "CI_RUNNER" in result.stderr


def test_a_real_fleet_needs_config_and_target(tmp_path: Path) -> None:
    result = runnerdoc(
        "scenario", "run", "fault-offline", "--live", "--config", str(real_config(tmp_path)),
        env=isolated_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 2
    assert "needs both --config FILE and --target RUNNER" in result.stderr


# ----- the step runner ---------------------------------------------------------------------------


class FakeEnvironment:
    """Only what the runner itself reads: where scenarios can run, and how patient to be."""

    kind = "lab"
    patience = 1.0
    sink_file = None

    def __init__(self) -> None:
        self.healed: list[str] = []

    def can_inject(self, kind: str) -> bool:
        return True

    location = "nowhere"

    def describe(self) -> str:
        return "a fake"

    def close(self) -> None:
        pass


def _scenario(*steps: Step) -> Scenario:
    return Scenario("fake", "Fake", "for the tests", steps)


def test_a_failed_step_stops_the_run_records_what_it_saw_and_still_cleans_up() -> None:
    env = FakeEnvironment()

    def breaks(ctx) -> str:
        ctx.on_cleanup("heal:r1", "heal r1", 5, lambda c: env.healed.append("r1") or "healed")
        ctx.mark("injected")
        return "broken"

    def never(ctx) -> str:
        return ctx.poll(lambda: (False, "still 3 runners offline"))

    scenario = _scenario(
        Step("break", "it breaks", 5, breaks),
        Step("wait", "it recovers", 0.6, never),
        Step("after", "never reached", 5, lambda ctx: "ran"),
    )
    started = time.monotonic()
    outcome = run_scenario(scenario, env)  # type: ignore[arg-type]
    assert time.monotonic() - started < 3, "a deadline is a deadline"
    assert outcome.state == "failed"
    assert [s.state for s in outcome.steps] == ["passed", "failed", "not run", "passed"]
    assert outcome.steps[1].seen == "not within the deadline; last seen: still 3 runners offline"
    assert 0.6 <= outcome.steps[1].seconds < 1.5
    assert outcome.steps[3].cleanup and env.healed == ["r1"]
    assert outcome.reason.startswith("wait: not within the deadline")


def test_polls_back_off_instead_of_hammering() -> None:
    calls: list[float] = []

    def slow(ctx) -> str:
        def check() -> tuple[bool, str]:
            calls.append(time.monotonic())
            return len(calls) >= 6, f"call {len(calls)}"

        return ctx.poll(check)

    outcome = run_scenario(_scenario(Step("poll", "eventually", 30, slow)), FakeEnvironment())  # type: ignore[arg-type]
    assert outcome.state == "passed" and outcome.steps[0].seen == "call 6"
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps == sorted(gaps) and gaps[-1] > 2 * gaps[0]


def test_cleanup_runs_when_the_run_is_interrupted() -> None:
    env = FakeEnvironment()

    def breaks_then_interrupted(ctx) -> str:
        ctx.on_cleanup("heal:r2", "heal r2", 5, lambda c: env.healed.append("r2") or "healed")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scenario(_scenario(Step("break", "it breaks", 5, breaks_then_interrupted)), env)  # type: ignore[arg-type]
    assert env.healed == ["r2"]


def test_a_step_raising_step_failed_keeps_its_message() -> None:
    def fails(ctx) -> str:
        raise StepFailed("runbook step restart-service failed: exit 1")

    outcome = run_scenario(_scenario(Step("fix", "it fixes", 5, fails)), FakeEnvironment())  # type: ignore[arg-type]
    assert outcome.steps[0].seen == "runbook step restart-service failed: exit 1"


def test_an_unexpected_error_fails_the_step_and_still_cleans_up() -> None:
    env = FakeEnvironment()

    def odd_answer(ctx) -> str:
        ctx.on_cleanup("heal:r3", "heal r3", 5, lambda c: env.healed.append("r3") or "healed")
        return json.loads("<html>502 Bad Gateway</html>")

    outcome = run_scenario(_scenario(Step("read", "JSON comes back", 5, odd_answer)), env)  # type: ignore[arg-type]
    assert outcome.state == "failed" and env.healed == ["r3"]
    assert outcome.steps[0].seen.startswith("JSONDecodeError: Expecting value")
    assert "(at " in outcome.steps[0].seen


def test_a_scenario_that_cannot_run_here_is_skipped_with_why() -> None:
    env = FakeEnvironment()
    env.kind = "real"
    run = run_all([SCENARIOS["automatic-failover"]], env)  # type: ignore[arg-type]
    assert run.ok and run.scenarios[0].state == "skipped"
    assert run.scenarios[0].reason.startswith("lab only:")


# ----- the sink's notifications ---------------------------------------------------------------


class AlertingEnvironment(FakeEnvironment):
    """A real fleet's Alertmanager (no sink): the alert is held inhibited, then active."""

    def __init__(self, runbook_url: str) -> None:
        super().__init__()
        self.runbook_url = runbook_url
        self.asked = 0

    def rule_runbook_url(self, alertname: str) -> str:
        return self.runbook_url

    def alertmanager_alerts(self, alertname: str, runner: str) -> list[dict[str, Any]]:
        self.asked += 1
        state = "suppressed" if self.asked < 3 else "active"  # silenced, then not
        return [{"status": {"state": state, "inhibitedBy": [], "silencedBy": ["s1"]},
                 "annotations": {"runbook_url": self.runbook_url}}]  # fmt: skip

    def inhibitors(self, held: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return []


class InhibitingEnvironment(AlertingEnvironment):
    """The pool's last runner is offline: RunnerPoolEmpty holds back its RunnerOffline."""

    def alertmanager_alerts(self, alertname: str, runner: str) -> list[dict[str, Any]]:
        return [{"status": {"state": "suppressed", "inhibitedBy": ["f00d"], "silencedBy": []},
                 "annotations": {"runbook_url": self.runbook_url}}]  # fmt: skip

    def inhibitors(self, held: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert [a["status"]["inhibitedBy"] for a in held] == [["f00d"]]
        return [{"fingerprint": "f00d",
                 "labels": {"alertname": "RunnerPoolEmpty", "pool": "pool-a"},
                 "annotations": {"runbook_url": self.runbook_url}}]  # fmt: skip


def _notified(env: AlertingEnvironment, runbook: str | None):
    def given(ctx) -> str:
        ctx.values.update(runner="pool-a-001", alert="DockerDaemonDown")
        return "given"

    return run_scenario(_scenario(Step("given", "", 5, given), alert_notified(runbook)), env)  # type: ignore[arg-type]


def test_without_a_sink_the_alert_must_be_active_in_alertmanager_with_its_runbook() -> None:
    url = "https://runbooks.example.com/runbooks/docker-daemon.html"
    outcome = _notified(AlertingEnvironment(url), None)
    assert outcome.state == "passed", outcome.reason
    assert outcome.steps[1].seen == f"DockerDaemonDown active in Alertmanager, runbook_url {url}"

    outcome = _notified(AlertingEnvironment(url), "runner-offline")
    assert (
        outcome.steps[1].seen
        == f"DockerDaemonDown's runbook_url {url} is not the runner-offline page"
    )
    outcome = _notified(AlertingEnvironment("https://wiki.example.com/DockerDown"), None)
    assert outcome.steps[1].seen.endswith("is not a runbook's page")


def test_an_inhibited_alert_counts_when_the_alert_inhibiting_it_is_sent_instead() -> None:
    url = "https://runbooks.example.com/runbooks/runner-offline.html"
    outcome = _notified(InhibitingEnvironment(url), "runner-offline")
    assert outcome.state == "passed", outcome.reason
    assert outcome.steps[1].seen == (
        "DockerDaemonDown is held back by the inhibit rule in favour of "
        f"RunnerPoolEmpty (pool-a), runbook_url {url}"
    )


def test_a_run_stopped_by_a_running_job_is_told_from_other_failures(tmp_path: Path) -> None:
    def run_output(step: str, printed: str) -> str:
        journal = tmp_path / f"{step}.jsonl"
        records = [
            {"type": "step-end", "step": step, "kind": "diagnose", "state": "failed",
             "exit_status": 0, "command": "ps -o pid,user,etime,args -C Runner.Worker",
             "checks": ["exit status 0, expected 1"], "output": printed},
            {"type": "run-end", "reason": f"step {step} failed"},
        ]  # fmt: skip
        journal.write_text("".join(json.dumps(r) + "\n" for r in records))
        return f"run X: degraded-resources on r (journal {journal})\nrun X: FAILED"

    busy = "    PID USER     ELAPSED COMMAND\n   4242 runner     00:07 Runner.Worker spawnclient"
    job_ran, cause = stopped_by_a_job(run_output("check-busy", busy))
    assert job_ran and "step check-busy (diagnose) failed" in cause
    # The guard's command names Runner.Worker too: only what the step printed counts.
    assert stopped_by_a_job(run_output("check-oom", "no such file"))[0] is False
    assert stopped_by_a_job("run X: FAILED, no journal named") == (False, "")


def test_sink_alerts_read_slack_and_webhook_notifications() -> None:
    url = "http://docs/runbooks/degraded-resources.html"
    slack = {
        "received": 10.0,
        "path": "/slack/ci-platform-critical",
        "body": {
            "attachments": [
                {
                    "title": "[FIRING:2] HostDiskFull",
                    "title_link": url,
                    "text": f":red_circle: */ on pool-a-0010:9100 is over 90 % full*\n"
                    f"(runner pool-a-0010)\nRunbook: <{url}|{url}>\n"
                    f":large_green_circle: */ on pool-a-001:9100 is over 90 % full*\n"
                    f"(runner pool-a-001)\nRunbook: <{url}|{url}>\n",
                }
            ]
        },
    }
    webhook = {
        "received": 11.0,
        "path": "/webhook/failover",
        "body": {
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "RunnerPoolEmpty", "pool": "pool-b"},
                    "annotations": {"runbook_url": "http://docs/runbooks/jobs-queued.html"},
                }
            ]
        },
    }
    found = sink_alerts([slack, webhook, {"received": 1, "path": "/x", "body": "not json"}])
    assert [(a.alertname, a.status) for a in found] == [
        ("HostDiskFull", "firing"),
        ("HostDiskFull", "resolved"),
        ("RunnerPoolEmpty", "firing"),
    ]
    assert [a.names("pool-a-001") for a in found[:2]] == [False, True]
    assert found[1].runbook_url == url
    assert found[2].runbook_url.endswith("jobs-queued.html") and found[2].names("pool-b")


# ----- reports -------------------------------------------------------------------------------


def test_reports_markdown_junit_and_json(tmp_path: Path) -> None:
    results = sample_results()
    written = write_reports(results, tmp_path / "out")
    assert [p.name for p in written] == ["results.json", "report.md", "junit.xml"]
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == results

    suite = ET.parse(tmp_path / "out" / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["fault-disk-full", "fault-clock-skew", "automatic-failover"]
    assert cases["fault-disk-full"].find("failure") is None
    assert cases["fault-disk-full"].get("time") == "11.40"
    failure = cases["fault-clock-skew"].find("failure")
    assert failure is not None
    assert failure.get("message") == "Runbook registration-clock fixes it: exit 1"
    assert "</failure>]]>" in (failure.text or "") and "\x1b" not in (failure.text or "")
    assert cases["automatic-failover"].find("skipped") is not None
    assert "Diagnose: passed in 1.4 s" in (cases["fault-disk-full"].findtext("system-out") or "")

    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| fault-disk-full | pass | 11.4 | 1.6 | 10.5 |" in markdown
    assert "| fault-clock-skew | **FAIL** | 31.1 | 2.0 | – |" in markdown
    heal = "| 3 | cleanup: Heal pool-a-001 | Heal pool-a-001 holds | pass | 0.3 | 60 |  |"
    assert heal in markdown
    online = "GitHub shows the runner online"
    assert f"| 3 | {online} | {online} holds | not run | – | 60 | – |" in markdown
    # What a passed step saw is shown too, as text: a runner name cannot inject HTML.
    assert (
        "| 2 | Diagnose | Diagnose holds | pass | 1.4 | 60 | degraded-resources first for "
        "pool-a-001 &lt;img src=x onerror=alert(1)&gt; \\| one cell |"
    ) in markdown
    fix = "Runbook registration-clock fixes it"
    assert f"| 2 | {fix} | {fix} holds | **FAIL** | 30.0 | 60 | see below |" in markdown
    # What a failed step saw is fenced so that nothing in it can end the fence or a table.
    assert "````text\nexit 1\n" in markdown and "\x1b" not in markdown
    assert "Skipped: lab only: it changes CI_RUNNER" in markdown
    assert report_markdown(results) == markdown


def test_site_page_from_a_report_folder_or_nothing_yet(tmp_path: Path) -> None:
    page = latest_results_markdown(root=tmp_path)
    assert page.startswith("# Scenario results")
    assert "No scenario has been run here yet" in page
    assert "runnerdoc scenario run --all --live --report docs/_generated/scenarios" in page
    folder = tmp_path / "docs" / "_generated" / "scenarios"
    write_reports(sample_results(), folder)
    page = latest_results_markdown(root=tmp_path)
    assert page == scenario_results_markdown(folder) == scenario_results_markdown(sample_results())
    assert "1 scenario(s) failed: fault-clock-skew" in page
    assert "| fault-disk-full | pass | 11.4 | 1.6 | 10.5 |" in page
    (folder / "results.json").write_text("{not json")
    assert "cannot be read" in latest_results_markdown(root=tmp_path)


# ----- live: every scenario against one lab ------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("scenario-lab")
    env = isolated_env(folder)
    lab_dir = Path(env["RUNNERDOC_LAB_DIR"])
    up = runnerdoc("lab", "up", "--runners", "4", env=env, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    recorded = json.loads((lab_dir / "lab.json").read_text())
    try:
        yield {"env": env, "folder": folder, "lab_dir": lab_dir}
    finally:
        down = runnerdoc("lab", "down", env=env, timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
        pids = [(s["pid"], s.get("start")) for s in recorded["services"].values() if s.get("pid")]
        pids += [(r["sshd"]["pid"], r["sshd"].get("start")) for r in recorded["runners"]]
        pids.append((recorded["supervisor"]["pid"], recorded["supervisor"].get("start")))
        left = [pid for pid, start in pids if processes.alive(int(pid), start)]
        left += [p for p in processes.marked(lab_dir.resolve()) if not processes.is_zombie(p)]
        assert not left, f"lab processes still running: {left}"


def test_every_scenario_passes_live_against_the_lab(lab: dict[str, Any]) -> None:
    # The report goes where the site's "Scenario results" page is built from: the docs
    # session of ./dev test, which runs after this, publishes this very run.
    report = ROOT / GENERATED
    for old in report.glob("*"):  # never read the report of an earlier run
        old.unlink()
    result = runnerdoc(
        "scenario", "run", "--all", "--live", "--lab", "--report", str(report),
        env=lab["env"], timeout=900,
    )  # fmt: skip
    sys.stdout.write(result.stdout)  # per-step timings, in pytest's captured output
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]

    results = json.loads((report / "results.json").read_text())
    assert results["ok"] and results["kind"] == "lab"
    assert [s["name"] for s in results["scenarios"]] == list(SCENARIOS)
    for s in results["scenarios"]:
        assert s["state"] == "passed", s["reason"]
        assert all(step["state"] == "passed" for step in s["steps"])
        assert all(step["seconds"] <= step["deadline"] + 5 for step in s["steps"])
        assert s["runners"], f"{s['name']} names no runner"
        if s["name"].startswith("fault-"):
            assert 0 < s["finding_seconds"] <= s["recovery_seconds"] < s["seconds"]

    suite = ET.parse(report / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(SCENARIOS))
    assert suite.get("failures") == "0" and not suite.findall("testcase/failure")
    markdown = (report / "report.md").read_text()
    for name in SCENARIOS:
        assert f"| {name} | pass |" in markdown

    # The lab is left as the scenarios found it: every runner online, no fault, no variable.
    status = runnerdoc("lab", "status", "--json", env=lab["env"])
    assert status.returncode == 0, status.stderr
    for runner in json.loads(status.stdout)["runners"]:
        assert (runner["github"], runner["service"], runner["faults"]) == ("online", "active", [])
    github = json.loads((lab["lab_dir"] / "lab.json").read_text())["services"]["github"]["url"]
    assert httpx.get(f"{github}/_sim/state", timeout=10).json()["variables"]["org:acme"] == {}
