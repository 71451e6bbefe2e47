"""Diagnosis: evidence -> ranked findings naming the right runbook."""

from __future__ import annotations

import json

import pytest

from tui.cli import main
from tui.model import Alert, RunnerState
from tui.runbooks.diagnosis import Evidence, LogSource, diagnose, metric_key
from tui.runbooks.parse import load_runbooks
from tui.runbooks.signatures import load_signatures

RUNBOOKS = load_runbooks()
SIGNATURES = load_signatures()


def journal(text: str) -> str:
    return f"Nov 28 01:00:00 host-01 runsvc.sh[812]: 2026-11-28 01:00:00Z: {text}"


# One realistic log per fault kind the lab injects, and the runbook that must come first.
CASES = {
    "offline": (
        RunnerState.OFFLINE,
        [journal("Runner listener exit with 0 return code, stop the service, no retry needed.")],
        {("host-systemd-unit-active", ()): 0.0},
        "runner-offline",
    ),
    "disk-full": (
        RunnerState.IDLE,
        ["[2026-11-28 01:00:00Z ERR  JobRunner] System.IO.IOException: No space left on device"
         " : '/home/runner/actions-runner/_work/_temp/a.sh'"],
        {("host-disk-used-ratio", ()): 0.99},
        "degraded-resources",
    ),
    "registration-expired": (
        RunnerState.OFFLINE,
        [journal("Failed to create a session. The runner registration has been deleted from the"
                 " server, please re-configure. Runner registrations are automatically deleted"
                 " for runners that have not connected to the service recently.")],
        {},
        "registration-clock",
    ),
    "network-down": (
        RunnerState.OFFLINE,
        [journal("Runner connect error: Name or service not known (api.github.com:443)."
                 " Retrying until reconnected.")],
        {},
        "network-unreachable",
    ),
    "docker-down": (
        RunnerState.IDLE,
        ["[2026-11-28 01:00:00Z ERR  StepsRunner] Cannot connect to the Docker daemon at"
         " unix:///var/run/docker.sock. Is the docker daemon running?"],
        {("host-systemd-unit-active", (("unit", "docker\\.service"),)): 0.0},
        "docker-daemon",
    ),
    "clock-skew": (
        RunnerState.OFFLINE,
        [journal("The local machine's clock may be out of sync with the server time by more than"
                 " five minutes. Please sync your clock with your domain controller or internet"
                 " time server.")],
        {("host-clock-offset-seconds", ()): 400.0},
        "registration-clock",
    ),
    "version-deprecated": (
        RunnerState.OFFLINE,
        [journal("An error occurred: Runner version v2.300.0 is deprecated and cannot receive"
                 " messages."),
         journal("Runner listener exit with terminated error, stop the service, no retry needed.")],
        {("runner-version-deprecated", ()): 1.0},
        "version-deprecated",
    ),
    "memory-pressure": (
        RunnerState.ACTIVE,
        ["Nov 28 01:00:00 host-01 kernel: Out of memory: Killed process 4242 (Runner.Worker)"
         " total-vm:1234kB"],
        {("host-memory-available-ratio", ()): 0.03},
        "degraded-resources",
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(CASES))
def test_top_finding_names_the_right_runbook(kind):
    state, lines, metrics, expected = CASES[kind]
    evidence = Evidence(
        runner="runner-01",
        state=state,
        metrics={metric_key(q, dict(p)): v for (q, p), v in metrics.items()},
        logs=[LogSource("journal", lines)],
    )
    findings = diagnose(evidence, RUNBOOKS, SIGNATURES)
    assert findings, kind
    top = findings[0]
    assert top.runbook == expected, (kind, [(f.runbook, f.confidence) for f in findings[:3]])
    assert 0 < top.confidence <= 1 and top.evidence
    if lines:
        assert any("journal:" in e for e in top.evidence)


def test_alert_and_metric_combine_and_rank_above_a_single_weak_signal():
    alert = Alert(
        name="HostDiskFull", severity="critical", state="active",
        labels=(("runner", "runner-01"),), summary="disk full", description="",
        runbook_url="http://x/runbooks/degraded-resources.html", starts_at=0, fingerprint="f",
    )  # fmt: skip
    evidence = Evidence(
        runner="runner-01", state=RunnerState.OFFLINE, alerts=[alert],
        metrics={metric_key("host-disk-used-ratio", {}): 0.97},
    )  # fmt: skip
    findings = diagnose(evidence, RUNBOOKS, SIGNATURES)
    assert findings[0].runbook == "degraded-resources"
    assert findings[0].confidence == pytest.approx(1 - (1 - 0.7) * (1 - 0.6))
    assert any("alert HostDiskFull firing" in e for e in findings[0].evidence)


def test_nothing_wrong_means_no_findings():
    assert diagnose(Evidence(runner="r", state=RunnerState.IDLE), RUNBOOKS, SIGNATURES) == []


def test_log_file_classification_cli(tmp_path, capsys):
    log = tmp_path / "Runner_20261128-010000-utc.log"
    log.write_text(
        "[2026-11-28 01:00:00Z INFO MessageListener] Connected to GitHub\n"
        "[2026-11-28 01:05:00Z ERR  MessageListener] Runner connect error: The HTTP request timed"
        " out after 00:01:40.. Retrying until reconnected.\n"
        "[2026-11-28 01:06:00Z INFO MessageListener] Runner reconnected.\n"
    )
    assert main(["diagnose", "--log-file", str(log), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["findings"][0]["runbook"] == "network-unreachable"
    # It reconnected a minute later: the error is named, as history.
    assert out["findings"][0]["evidence"][0].startswith(f"before it recovered: {log.name}:2:")
    assert main(["diagnose", "--log-file", str(log)]) == 0
    text = capsys.readouterr().out
    assert "network-unreachable" in text and "runnerdoc runbook run network-unreachable" in text


def test_log_file_with_nothing_known(tmp_path, capsys):
    log = tmp_path / "quiet.log"
    log.write_text("Listening for Jobs\n\x1b]52;c;ZXZpbA==\x07 nothing here\n")
    assert main(["diagnose", "--log-file", str(log)]) == 0
    out = capsys.readouterr().out
    assert "no known problem" in out and "\x1b" not in out


def test_errors_the_runner_recovered_from_count_less_than_new_ones():
    old_disk = ("[2026-11-28 01:00:00Z ERR  JobRunner] System.IO.IOException: No space left on"
                " device : '/home/runner/actions-runner/_work/_temp/a.sh'")  # fmt: skip
    lines = [
        old_disk,
        journal("Listening for Jobs"),
        "[2026-11-28 01:10:00Z ERR  StepsRunner] Cannot connect to the Docker daemon at"
        " unix:///var/run/docker.sock. Is the docker daemon running?",
    ]
    findings = diagnose(
        Evidence(runner="r", state=RunnerState.IDLE, logs=[LogSource("journal", lines)]),
        RUNBOOKS, SIGNATURES,
    )  # fmt: skip
    assert findings[0].runbook == "docker-daemon"
    disk = next(f for f in findings if f.runbook == "degraded-resources")
    assert disk.confidence < 0.5 and disk.evidence[0].startswith("before it recovered: journal:1: ")
    # Without the recovery line, the disk error is as fresh as any.
    fresh = diagnose(
        Evidence(runner="r", state=RunnerState.IDLE, logs=[LogSource("j", [old_disk])]),
        RUNBOOKS, SIGNATURES,
    )  # fmt: skip
    assert fresh[0].runbook == "degraded-resources" and fresh[0].confidence >= 0.8


def test_a_worker_log_error_from_before_the_last_good_job_is_history():
    # The newest Worker log still holds the failed job's Docker error after the host was
    # healed; the journal, a different log, shows the runner listening and a job passing
    # since. Times decide, across logs.
    docker = ("[2026-11-28 01:00:00Z ERR  StepsRunner] Cannot connect to the Docker daemon at"
              " unix:///var/run/docker.sock. Is the docker daemon running?")  # fmt: skip
    since = [
        "2026-11-28T01:05:00+0000 host-01 runsvc.sh[812]: 2026-11-28 01:05:00Z: Listening for Jobs",
        "2026-11-28T01:07:00+0000 host-01 runsvc.sh[812]: 2026-11-28 01:07:00Z: Job build"
        " completed with result: Succeeded",
    ]

    def docker_finding(worker: list[str], journal_lines: list[str]):
        logs = [LogSource("journal", journal_lines), LogSource("worker-log", worker)]
        findings = diagnose(
            Evidence(runner="r", state=RunnerState.IDLE, logs=logs), RUNBOOKS, SIGNATURES
        )
        return next((f for f in findings if f.runbook == "docker-daemon"), None)

    healed = docker_finding([docker], since)
    assert healed is not None and healed.confidence < 0.5, healed
    assert (
        healed.evidence[0].startswith("before it recovered: worker-log:1: ") and healed.step is None
    )
    # The same error after the last good job is the cause.
    again = docker.replace("01:00:00Z", "01:09:00Z")
    fresh = docker_finding([again], since)
    assert fresh is not None and fresh.confidence >= 0.8 and fresh.step is not None
    # A log with no times cannot be placed against another log: it keeps its weight.
    untimed = docker_finding([docker.split("] ", 1)[1]], since)
    assert untimed is not None and untimed.confidence >= 0.8
