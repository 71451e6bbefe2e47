"""A drill: break a lab runner, let runnerdoc find the cause and fix it, and time each part.

Everything goes through the `runnerdoc` commands an on-call engineer types (lab
fault, diagnose, runbook run --yes, status), so the drill measures what people get.
Used by the end-to-end tests and by `nox -s bench`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tui.scenarios.definitions import JOB_RETRIES, stopped_by_a_job

# Fault kind -> the runbook that must come first and fix it.
RUNBOOK_FOR_FAULT = {
    "offline": "runner-offline",
    "disk-full": "degraded-resources",
    "memory-pressure": "degraded-resources",
    "registration-expired": "registration-clock",
    "network-down": "network-unreachable",
    "docker-down": "docker-daemon",
    "clock-skew": "registration-clock",
    "version-deprecated": "version-deprecated",
}
# What the original plan (story INFRA-474) estimated for a person to fix each, in minutes.
PLAN_MINUTES = {
    "offline": "5-15",
    "disk-full": "2-10",
    "memory-pressure": "2-10",
    "registration-expired": "10-20",
    "network-down": "5-20",
    "docker-down": "5-15",
    "clock-skew": "5-20",
    "version-deprecated": "10-20",
}


class DrillFailed(AssertionError):
    """A drill step did not happen in time; the message says what was seen."""


@dataclass
class DrillResult:
    kind: str
    runner: str
    runbook: str
    to_finding: float  # seconds from injection to the right runbook ranked first
    to_recovery: float  # seconds from injection to online in GitHub again
    alerts_resolved: float | None  # seconds from injection until no alert fires for it
    fix_seconds: float  # how long the unattended runbook run took
    findings: list[dict] = field(default_factory=list)


def runnerdoc_exe() -> str:
    return str(Path(sys.executable).with_name("runnerdoc"))


@dataclass
class Drill:
    lab_dir: Path
    journal_dir: Path | None = None
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] = lambda text: None

    def run(
        self, *args: str, timeout: float = 300, check: bool = False
    ) -> subprocess.CompletedProcess:
        env = {**os.environ, "RUNNERDOC_LAB_DIR": str(self.lab_dir)}
        if self.journal_dir is not None:
            env["RUNNERDOC_JOURNAL_DIR"] = str(self.journal_dir)
        result = subprocess.run(
            [runnerdoc_exe(), *args], capture_output=True, text=True, env=env,
            stdin=subprocess.DEVNULL, timeout=timeout,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise DrillFailed(
                f"runnerdoc {' '.join(args)} exited {result.returncode}: "
                f"{(result.stderr or result.stdout)[-1500:]}"
            )
        return result

    def status(self) -> dict:
        return json.loads(self.run("--lab", "status", "--json", check=True).stdout)

    def runner_row(self, runner: str) -> dict | None:
        return next((r for r in self.status()["runners"] if r["name"] == runner), None)

    def runner_idle(self, runner: str) -> bool:
        row = self.runner_row(runner)
        return row is not None and row["state"] == "idle"

    def alertmanager_url(self) -> str:
        from tui.config import load_settings

        url = load_settings(self.lab_dir / "config.toml", env={}).alertmanager_url
        if url is None:
            raise DrillFailed("the lab's config has no Alertmanager")
        return url

    def firing_for(self, runner: str) -> list[str]:
        alerts = httpx.get(
            self.alertmanager_url() + "/api/v2/alerts", params={"active": "true"}, timeout=10
        ).json()
        return [a["labels"]["alertname"] for a in alerts if a["labels"].get("runner") == runner]

    def wait(self, what: str, probe: Callable[[], object], deadline: float) -> object:
        """Poll `probe` until it returns something true, backing off; raise when late."""
        pause = 0.5
        last: object = None
        while self.clock() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(pause)
            pause = min(pause * 1.5, 3.0)
        raise DrillFailed(f"{what}: not within the deadline (last seen: {last!r})")

    def drill(
        self, runner: str, kind: str, *, params: Mapping[str, str] | None = None,
        finding_within: float = 90, recovery_within: float = 300, alerts_within: float = 120,
    ) -> DrillResult:  # fmt: skip
        runbook = RUNBOOK_FOR_FAULT[kind]
        row = self.runner_row(runner)
        if row is None or row["state"] not in ("idle", "active"):
            raise DrillFailed(f"{runner} is not healthy before the drill: {row}")
        params = dict(params or {})
        if kind == "registration-expired" and "runner_labels" not in params:
            # GitHub forgets the labels with the registration; the operator knows the pool.
            custom = [label for label in row["labels"] if label == row["pool"]]
            params["runner_labels"] = ",".join(custom or [row["pool"]])
        self.run("lab", "fault", runner, kind, check=True)
        start = self.clock()
        self.log(f"{kind}: injected into {runner}")
        findings: list[dict] = []

        def right_finding() -> bool:
            nonlocal findings
            out = self.run("--lab", "diagnose", runner, "--json")
            findings = json.loads(out.stdout)["findings"] if out.returncode == 0 else []
            return bool(findings) and findings[0]["runbook"] == runbook

        self.wait(f"{kind}: {runbook} ranked first", right_finding, start + finding_within)
        to_finding = self.clock() - start
        self.log(f"{kind}: diagnosed as {runbook} after {to_finding:.1f} s")
        args = ["--lab", "runbook", "run", runbook, "--runner", runner, "--yes"]
        for name, value in params.items():
            args += ["--param", f"{name}={value}"]
        fix_started = self.clock()
        for attempt in range(1 + JOB_RETRIES):
            result = self.run(*args, timeout=recovery_within)
            if result.returncode == 0:
                break
            job_ran, _ = stopped_by_a_job(result.stdout)
            if not job_ran or attempt == JOB_RETRIES:
                raise DrillFailed(f"{kind}: runbook {runbook} failed:\n{result.stdout[-3000:]}")
            # The lab's runners take jobs; the runbook will not stop one mid-job and says
            # to run it again once the job is over. So does the drill.
            self.log(f"{kind}: a job was running on {runner}; again once it is idle")
            self.wait(f"{kind}: {runner} idle", lambda: self.runner_idle(runner),
                      self.clock() + recovery_within)  # fmt: skip
        fix_seconds = self.clock() - fix_started

        def online() -> bool:
            r = self.runner_row(runner)
            return r is not None and r["state"] in ("idle", "active")

        self.wait(f"{kind}: {runner} online in GitHub", online, start + recovery_within)
        to_recovery = self.clock() - start
        self.log(f"{kind}: {runner} online after {to_recovery:.1f} s")
        resolved: float | None = None
        self.wait(
            f"{kind}: alerts for {runner} resolved",
            lambda: not self.firing_for(runner),
            self.clock() + alerts_within,
        )
        resolved = self.clock() - start
        return DrillResult(kind, runner, runbook, to_finding, to_recovery, resolved, fix_seconds,
                           findings)  # fmt: skip
