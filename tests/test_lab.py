"""Every fault of the lab, end to end, against one real lab (`runnerdoc lab up`, 3 runners).

For each fault kind: inject it with `runnerdoc lab fault`, see it where an on-call engineer
would (GitHub's API, a query to the lab's Prometheus, the journal or `_diag` over real
SSH, and Loki), check that the log line is a known signature of the right runbook, run
the runbook's own diagnose and remediate steps (rendered from docs/runbooks) over SSH,
and see the runner healthy again: its service active and GitHub showing it online.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tui.queries import load_templates
from tui.runbooks.parse import load_runbooks
from tui.runbooks.signatures import load_signatures

RUNBOOKS = load_runbooks()
TEMPLATES = load_templates()
SIGNATURES = load_signatures()
RUNNERS = 3


@dataclass
class StepResult:
    name: str
    ok: bool
    code: int
    output: str


@dataclass
class Lab:
    folder: Path
    env: dict[str, str]
    config: dict[str, Any]
    state: dict[str, Any]
    captured: dict[str, str] = field(default_factory=dict)
    turn: int = 0

    # ----- the CLI ----------------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "tui.cli", "lab", *args],
            env=self.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    @property
    def runners(self) -> list[str]:
        return [r["name"] for r in self.state["runners"]]

    def root(self, runner: str) -> str:
        return self.config["lab"]["runner_roots"][runner]

    def labels(self, runner: str) -> str:
        """The runner's custom labels, as its pool's other runners have them."""
        entry = next(r for r in self.state["runners"] if r["name"] == runner)
        return ",".join(entry["labels"])

    def url(self, service: str) -> str:
        return self.state["services"][service]["url"]

    # ----- SSH --------------------------------------------------------------------------------

    def ssh_argv(self, runner: str, known_hosts: str | None = None) -> list[str]:
        host, port = self.config["ssh"]["hosts"][runner].split(":")
        return [
            "ssh", "-F", "/dev/null", "-i", self.config["ssh"]["identity_file"],
            "-o", f"UserKnownHostsFile={known_hosts or self.config['ssh']['known_hosts']}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
            "-p", port, f"{self.config['ssh']['user']}@{host}",
        ]  # fmt: skip

    def ssh(self, runner: str, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.ssh_argv(runner), command], capture_output=True, text=True, timeout=timeout
        )

    # ----- runbook steps ------------------------------------------------------------------------

    def values(self, runbook: str, runner: str, **extra: str) -> dict[str, str]:
        given = dict(self.config["lab"]["runbook_parameters"])
        given.update(runner=runner, runner_root=self.config["lab"]["runner_roots"][runner])
        given.update(self.captured)
        given.update(extra)
        declared = RUNBOOKS[runbook].parameters
        return RUNBOOKS[runbook].resolve({k: v for k, v in given.items() if k in declared})

    def step(self, runbook: str, name: str, runner: str, **extra: str) -> StepResult:
        """Render the runbook's step and run it where it says (the host over SSH, or here)."""
        step = RUNBOOKS[runbook].step(name)
        command = step.render(self.values(runbook, runner, **extra))
        if step.target == "local":
            env = {**os.environ, "GITHUB_TOKEN": self.config["github"]["token"]}
            argv = ["bash", "-c", command]
        else:
            env = None
            argv = [*self.ssh_argv(runner), command]
        result = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=step.timeout + 30
        )
        output = result.stdout + result.stderr
        ok = result.returncode in step.expect_exit
        if step.expect_output and not re.search(step.expect_output, output):
            ok = False
        if step.expect_no_output and re.search(step.expect_no_output, output):
            ok = False
        if ok and step.capture:
            lines = [line for line in result.stdout.splitlines() if line.strip()]
            self.captured[step.capture] = lines[-1].strip() if lines else ""
        return StepResult(name, ok, result.returncode, output)

    def passes(self, runbook: str, name: str, runner: str, **extra: str) -> StepResult:
        result = self.step(runbook, name, runner, **extra)
        assert result.ok, f"{runbook}/{name} failed (exit {result.code}):\n{result.output}"
        return result

    def fails(self, runbook: str, name: str, runner: str, **extra: str) -> StepResult:
        result = self.step(runbook, name, runner, **extra)
        assert not result.ok, f"{runbook}/{name} passed on a broken host:\n{result.output}"
        return result

    def passes_soon(self, runbook: str, name: str, runner: str, timeout: float = 30) -> StepResult:
        """A verify step, run again until it passes, as the runbooks say ("wait and run again")."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.step(runbook, name, runner)
            if result.ok or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert result.ok, f"{runbook}/{name} never passed:\n{result.output}"
        return result

    # ----- signals ----------------------------------------------------------------------------

    def github_runner(self, runner: str) -> dict[str, Any] | None:
        answer = httpx.get(
            f"{self.config['github']['api_url']}/orgs/{self.config['github']['org']}"
            "/actions/runners",
            params={"name": runner},
            headers={"Authorization": f"Bearer {self.config['github']['token']}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        runners = answer.json()["runners"]
        return runners[0] if runners else None

    def prometheus(self, template: str, **params: str) -> list[dict[str, Any]]:
        query = TEMPLATES[template].render(params)
        answer = httpx.get(f"{self.url('prometheus')}/api/v1/query", params={"query": query},
                           timeout=10)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]["result"]

    def loki(self, template: str, **params: str) -> list[str]:
        query = TEMPLATES[template].render(params)
        answer = httpx.get(
            f"{self.url('loki')}/loki/api/v1/query_range",
            params={"query": query, "limit": "1000", "start": str(int((time.time() - 600) * 1e9))},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return [line for s in answer.json()["data"]["result"] for _, line in s["values"]]


def failed_jobs(lab: Lab, runner: str) -> int:
    """How many jobs of this runner GitHub shows as failed."""
    jobs = httpx.get(f"{lab.url('github')}/_sim/state", timeout=10).json()["jobs"]
    return sum(1 for j in jobs if j["runner_name"] == runner and j["conclusion"] == "failure")


def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except AssertionError as e:
            last = e
        else:
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: never seen (last: {last!r})")


def host_value(lab: Lab, template: str, runner: str, **params: str) -> float | None:
    for sample in lab.prometheus(template, instance=f"{re.escape(runner)}:9100", **params):
        if sample["metric"].get("runner") == runner:
            return float(sample["value"][1])
    return None


def signature_of(line: str, runbook: str) -> None:
    """The line is a known log signature that names `runbook`."""
    names = [s.runbook for s in SIGNATURES if s.pattern.search(line)]
    assert runbook in names, f"{line!r} matches signatures of {names}, not {runbook}"


def online(lab: Lab, runner: str) -> bool:
    record = lab.github_runner(runner)
    return bool(record and record["status"] == "online")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("lab")
    env = {**os.environ, "RUNNERDOC_LAB_DIR": str(folder)}
    env.pop("GITHUB_TOKEN", None)
    up = subprocess.run(
        [sys.executable, "-m", "tui.cli", "lab", "up", "--runners", str(RUNNERS),
         "--job-interval", "0"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr + (folder / "supervisor.log").read_text()
    config = tomllib.loads((folder / "config.toml").read_text())
    state = json.loads((folder / "lab.json").read_text())
    the_lab = Lab(folder, env, config, state)
    try:
        yield the_lab
    finally:
        down = subprocess.run([sys.executable, "-m", "tui.cli", "lab", "down"], env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture
def runner(lab: Lab) -> Iterator[str]:
    """A healthy runner for one test (each test takes the next); `lab heal` afterwards."""
    name = lab.runners[lab.turn % len(lab.runners)]
    lab.turn += 1
    lab.captured.clear()
    eventually(lambda: online(lab, name), f"{name} online before the test")
    try:
        yield name
    finally:
        lab.cli("heal", name)
        lab.captured.clear()


# ----- the faults -------------------------------------------------------------------------


def test_offline(lab: Lab, runner: str) -> None:
    lab.cli("fault", runner, "offline")
    eventually(lambda: not online(lab, runner), "GitHub shows the runner offline")
    eventually(lambda: host_value(lab, "host-systemd-unit-active", runner) == 0,
               "Prometheus: runner unit not active")  # fmt: skip
    journal = lab.ssh(runner, f"sudo -n journalctl -u \"$(cat {lab.root(runner)}/.service)\""
                      " -o cat --no-pager | tail -n 3").stdout  # fmt: skip
    assert "Failed with result 'signal'" in journal
    eventually(lambda: any("Main process exited, code=killed" in line
                           for line in lab.loki("runner-log-search", runner=runner,
                                                text="Main process exited")),
               "Loki: the crash")  # fmt: skip
    lab.fails("runner-offline", "check-service", runner)
    lab.passes("runner-offline", "check-exit-verdict", runner)
    lab.passes("runner-offline", "check-running-job", runner)
    lab.passes("runner-offline", "restart-service", runner)
    lab.passes("runner-offline", "verify-service-active", runner)
    lab.passes_soon("runner-offline", "verify-listening", runner)
    lab.passes_soon("runner-offline", "verify-github-online", runner)


def test_disk_full(lab: Lab, runner: str) -> None:
    failed_before = failed_jobs(lab, runner)
    lab.cli("fault", runner, "disk-full")
    eventually(lambda: (host_value(lab, "host-disk-used-ratio", runner) or 0) >= 0.99,
               "Prometheus: the disk full")  # fmt: skip
    line = eventually(
        lambda: lab.ssh(runner, "grep -h 'No space left on device' "
                        f"{lab.root(runner)}/_diag/Worker_*.log").stdout.strip(),
        "the job's No space left on device in a Worker log",
    )  # fmt: skip
    signature_of(line.splitlines()[0], "degraded-resources")
    eventually(lambda: lab.loki("disk-full-lines", runner=runner), "Loki: disk-full lines")
    assert online(lab, runner), "a runner with a full disk stays online (and fails its jobs)"
    eventually(lambda: failed_jobs(lab, runner) > failed_before, "GitHub: the job failed")
    check = lab.fails("degraded-resources", "check-disk", runner)
    assert re.search(r"\s100%\s", check.output)
    usage = lab.passes("degraded-resources", "find-disk-usage", runner)
    assert re.search(r"^\d+G\t\S+/_work/_temp$", usage.output, re.M), usage.output
    lab.passes("degraded-resources", "check-busy", runner)
    lab.passes("degraded-resources", "stop-runner", runner)
    eventually(lambda: not online(lab, runner), "GitHub shows the stopped runner offline")
    lab.passes("degraded-resources", "clean-work", runner)
    lab.passes("degraded-resources", "prune-docker", runner)
    lab.passes("degraded-resources", "start-runner", runner)
    lab.passes("degraded-resources", "verify-disk", runner)
    lab.passes_soon("degraded-resources", "verify-listening", runner)
    lab.passes_soon("degraded-resources", "verify-github-online", runner)
    eventually(lambda: (host_value(lab, "host-disk-used-ratio", runner) or 1) < 0.5,
               "Prometheus: disk space back")  # fmt: skip


def test_memory_pressure(lab: Lab, runner: str) -> None:
    lab.cli("fault", runner, "memory-pressure")
    eventually(lambda: (host_value(lab, "host-memory-available-ratio", runner) or 1) < 0.1,
               "Prometheus: memory nearly gone")  # fmt: skip
    memory = lab.passes("degraded-resources", "check-memory", runner)
    assert re.search(r"^\s*\d+ runner\s+\d{6,} .* node$", memory.output, re.M), memory.output
    oom = lab.fails("degraded-resources", "check-oom", runner)
    signature_of(oom.output.strip().splitlines()[-1], "degraded-resources")
    eventually(lambda: lab.loki("oom-lines", host=runner), "Loki: the OOM kill")
    assert online(lab, runner), "GitHub still shows the starved runner online"
    lab.passes("degraded-resources", "stop-runner", runner)
    leftovers = lab.ssh(runner, "ps -o pid,user,rss,args -u runner").stdout
    assert "jest" in leftovers, "stopping the unit keeps the job's leftover processes"
    lab.passes("degraded-resources", "stop-leftover-processes", runner)
    assert "jest" not in lab.ssh(runner, "ps -o pid,user,rss,args -u runner").stdout
    lab.passes("degraded-resources", "start-runner", runner)
    lab.passes_soon("degraded-resources", "verify-listening", runner)
    lab.passes_soon("degraded-resources", "verify-github-online", runner)
    eventually(lambda: (host_value(lab, "host-memory-available-ratio", runner) or 0) > 0.5,
               "Prometheus: memory back")  # fmt: skip


def test_registration_expired(lab: Lab, runner: str) -> None:
    lab.cli("fault", runner, "registration-expired")
    eventually(lambda: lab.github_runner(runner) is None, "GitHub no longer lists the runner")
    eventually(lambda: host_value(lab, "host-systemd-unit-active", runner) == 0,
               "Prometheus: the service stopped for good")  # fmt: skip
    lines = eventually(lambda: lab.loki("token-failure-lines", runner=runner),
                       "Loki: registration deleted")  # fmt: skip
    signature_of(lines[0], "registration-clock")
    session = lab.fails("registration-clock", "check-journal-session", runner)
    assert "registration has been deleted" in session.output
    lab.passes("registration-clock", "read-runner-url", runner)
    lab.fails("registration-clock", "check-github-registration", runner)
    lab.passes("registration-clock", "uninstall-service", runner)
    lab.passes("registration-clock", "get-remove-token", runner)
    lab.passes("registration-clock", "remove-runner-config", runner)
    labels = lab.labels(runner)
    # An old or made-up token is refused the way GitHub refuses it; only a fresh one works.
    stale = lab.fails("registration-clock", "register-runner", runner,
                      registration_token="AABBCCDDEEFFGGHHIIJJKKLLMMNN1",
                      runner_labels=labels)  # fmt: skip
    assert "Http response code: NotFound" in stale.output
    assert lab.github_runner(runner) is None
    lab.passes("registration-clock", "get-registration-token", runner)
    lab.passes("registration-clock", "register-runner", runner, runner_labels=labels)
    lab.passes("registration-clock", "install-service", runner)
    lab.passes_soon("registration-clock", "verify-listening", runner)
    lab.passes_soon("registration-clock", "verify-github-online", runner)
    # A registration token works once: GitHub refuses it for a second registration.
    used = {"token": lab.captured["registration_token"], "name": "clone"}
    again = httpx.post(f"{lab.url('github')}/_sim/register", json=used, timeout=10)
    assert again.status_code == 404 and again.json()["reason"] == "used"


def test_network_down(lab: Lab, runner: str) -> None:
    lab.cli("fault", runner, "network-down")
    eventually(lambda: not online(lab, runner), "GitHub shows the runner offline")
    eventually(lambda: host_value(lab, "host-systemd-unit-active", runner,
                                  unit=r"systemd-resolved\.service") == 0,
               "Prometheus: systemd-resolved down")  # fmt: skip
    lines = eventually(lambda: lab.loki("runner-connect-errors", runner=runner),
                       "Loki: connect errors")  # fmt: skip
    assert any("Name or service not known" in line for line in lines)
    signature_of(next(x for x in lines if "Runner connect error" in x), "network-unreachable")
    errors = lab.passes("network-unreachable", "check-connect-errors", runner)
    assert "Name or service not known" in errors.output
    lab.fails("network-unreachable", "check-dns", runner)
    lab.fails("network-unreachable", "check-resolver", runner)
    tls = lab.fails("network-unreachable", "check-tls", runner)
    assert "Could not resolve host" in tls.output
    lab.passes("network-unreachable", "check-github-status", runner)
    # The DNS fix itself happens outside the runbook (the network team's part): here it is
    # restarting the host's resolver. Then the runbook's own restart brings the runner back.
    fixed = lab.ssh(runner, "sudo -n systemctl restart systemd-resolved.service && "
                    "getent hosts api.github.com")  # fmt: skip
    assert fixed.returncode == 0, fixed.stderr
    lab.passes("network-unreachable", "check-dns", runner)
    lab.passes("network-unreachable", "restart-service", runner)
    lab.passes("network-unreachable", "check-tls", runner)
    lab.passes_soon("network-unreachable", "verify-listening", runner)
    lab.passes_soon("network-unreachable", "verify-github-online", runner)


def test_docker_down(lab: Lab, runner: str) -> None:
    failed_before = failed_jobs(lab, runner)
    lab.cli("fault", runner, "docker-down")
    eventually(lambda: host_value(lab, "host-systemd-unit-active", runner,
                                  unit=r"docker\.service") == 0,
               "Prometheus: docker.service down")  # fmt: skip
    assert online(lab, runner), "a runner without docker stays online (and fails jobs)"
    worker = eventually(
        lambda: lab.ssh(runner, "grep -h 'Cannot connect to the Docker daemon' "
                        f"{lab.root(runner)}/_diag/Worker_*.log").stdout.strip(),
        "the container job's error in a Worker log",
    )  # fmt: skip
    signature_of(worker.splitlines()[0], "docker-daemon")
    eventually(lambda: lab.loki("docker-daemon-errors", runner=runner), "Loki: docker errors")
    eventually(lambda: failed_jobs(lab, runner) > failed_before, "GitHub: the container job failed")
    lab.fails("docker-daemon", "check-docker-service", runner)
    lab.passes("docker-daemon", "check-docker-journal", runner)
    lab.passes("docker-daemon", "check-docker-group", runner)
    denied = lab.fails("docker-daemon", "check-docker-access", runner)
    assert "Cannot connect to the Docker daemon" in denied.output
    refused = lab.ssh(runner, "sudo -n systemctl start docker.service")
    assert refused.returncode != 0, "systemd refuses a unit past its start limit"
    lab.passes("docker-daemon", "start-docker", runner)
    lab.passes("docker-daemon", "restart-runner", runner)
    lab.passes("docker-daemon", "verify-docker-service", runner)
    lab.passes("docker-daemon", "verify-docker-access", runner)
    lab.passes("docker-daemon", "verify-runner-groups", runner)
    lab.passes_soon("docker-daemon", "verify-listening", runner)
    eventually(lambda: online(lab, runner), "GitHub shows the runner online")
    eventually(lambda: host_value(lab, "host-systemd-unit-active", runner,
                                  unit=r"docker\.service") == 1,
               "Prometheus: docker.service active")  # fmt: skip


def test_clock_skew(lab: Lab, runner: str) -> None:
    lab.cli("fault", runner, "clock-skew")
    eventually(lambda: (host_value(lab, "host-clock-offset-seconds", runner) or 0) > 300,
               "Prometheus: the clock offset")  # fmt: skip
    eventually(lambda: not online(lab, runner), "GitHub refuses the session: offline")
    lines = eventually(lambda: lab.loki("runner-log-search", runner=runner,
                                        text="out of sync with the server time"),
                       "Loki: the clock line")  # fmt: skip
    signature_of(lines[0], "registration-clock")
    clock = lab.fails("registration-clock", "check-clock", runner)
    assert re.search(r"offset_seconds=(39\d|40\d)\b", clock.output), clock.output
    lab.fails("registration-clock", "check-time-sync", runner)
    lab.passes("registration-clock", "restart-time-sync", runner)
    lab.passes("registration-clock", "restart-runner", runner)
    lab.passes("registration-clock", "verify-clock", runner)
    # verify-listening is left out: journal lines written while the clock ran ahead carry
    # future timestamps, so `--since ActiveEnterTimestamp` shows the old clock errors for
    # another 400 s, on a real host too (reported to the runbook's owner).
    lab.passes_soon("registration-clock", "verify-github-online", runner)
    eventually(lambda: (host_value(lab, "host-clock-offset-seconds", runner) or 999) < 2,
               "Prometheus: the clock is right again")  # fmt: skip


def test_version_deprecated(lab: Lab, runner: str) -> None:
    lab.cli("fault", runner, "version-deprecated")
    eventually(lambda: (lab.github_runner(runner) or {}).get("version") == "2.317.0",
               "GitHub sees the old version")  # fmt: skip
    assert not online(lab, runner)
    eventually(lambda: any(s["metric"].get("runner") == runner and s["value"][1] == "1"
                           for s in lab.prometheus("runner-version-deprecated")),
               "Prometheus: the exporter marks the version deprecated", timeout=45)  # fmt: skip
    journal = lab.ssh(runner, f"sudo -n journalctl -u \"$(cat {lab.root(runner)}/.service)\""
                      " -o cat --no-pager | grep -E 'deprecated|no retry'").stdout  # fmt: skip
    assert "Runner version v2.317.0 is deprecated and cannot receive messages" in journal
    assert (
        "Runner listener exit with terminated error, stop the service, no retry needed." in journal
    )
    signature_of(journal.splitlines()[0], "version-deprecated")
    eventually(lambda: lab.loki("runner-log-search", runner=runner, text="is deprecated"),
               "Loki: the deprecation")  # fmt: skip
    version = lab.passes("version-deprecated", "check-runner-version", runner)
    assert version.output.strip() == "2.317.0"
    lab.fails("version-deprecated", "check-journal-version", runner)
    lab.passes("version-deprecated", "check-deprecation", runner)
    lab.passes("version-deprecated", "check-latest-version", runner)
    lab.fails("version-deprecated", "compare-versions", runner)
    lab.passes("version-deprecated", "read-runner-arch", runner)
    lab.passes("version-deprecated", "check-runner-disk", runner)
    lab.passes("version-deprecated", "check-runner-root-owner", runner)
    lab.passes("version-deprecated", "stop-runner", runner)
    lab.passes("version-deprecated", "download-release", runner)
    lab.passes("version-deprecated", "unpack-release", runner)
    lab.passes("version-deprecated", "start-runner", runner)
    lab.passes("version-deprecated", "verify-runner-version", runner)
    lab.passes_soon("version-deprecated", "verify-listening", runner)
    lab.passes_soon("version-deprecated", "verify-github-online", runner)
    assert lab.github_runner(runner)["version"] == lab.captured["latest_version"]
    # The download went to the host's own /tmp, inside the lab folder.
    package = f"actions-runner-linux-x64-{lab.captured['latest_version']}.tar.gz"
    assert (lab.folder / "hosts" / runner / "fs" / "tmp" / package).is_file()


def test_no_sudo(lab: Lab, runner: str) -> None:
    lab.cli("fault", runner, "no-sudo")
    denied = lab.ssh(runner, "sudo -n systemctl restart docker.service")
    assert denied.returncode == 1
    assert denied.stderr.strip() == "sudo: a password is required"
    step = lab.fails("runner-offline", "restart-service", runner)
    assert "a password is required" in step.output


def test_alert_reaches_the_sink(lab: Lab, runner: str) -> None:
    """A fault's alert goes from Prometheus through Alertmanager to the webhook sink."""

    def notified() -> int:
        answer = httpx.get(f"{lab.url('sink')}/notifications", timeout=5).json()
        return sum(
            1
            for n in answer
            if "DockerDaemonDown" in json.dumps(n["body"]) and runner in json.dumps(n["body"])
        )

    before = notified()
    lab.cli("fault", runner, "docker-down")
    eventually(lambda: notified() > before, "DockerDaemonDown in the sink", timeout=60)
