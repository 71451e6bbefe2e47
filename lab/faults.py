"""Failures a lab host can be given (`runnerdoc lab fault`), and the reset (`runnerdoc lab heal`).

Each fault changes what really breaks on a runner host (a unit crashes, a file fills the
disk, the registration disappears from GitHub, the clock drifts, an old runner version
comes back) and nothing else: the signals (GitHub's view, the metrics, the journal and
the runner's logs) follow from it, and only the remediation the runbook describes heals
it. `heal` is a reset for tests and demos, not a remediation.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import tomllib
from dataclasses import dataclass
from typing import Any

import httpx

from lab.config import LabLayout, LabPlan, read_lab_state
from lab.github_sim import CURRENT_RUNNER_VERSION
from lab.host import units
from lab.host.files import (
    install_runner_files,
    installed_version,
    read_registration,
    unit_file_text,
    write_registration,
)
from lab.host.provision import runner_unit_name
from lab.host.resources import disk, memory
from lab.host.state import RunnerHost, unit_record

DEPRECATED_VERSION = "2.317.0"
CLOCK_SKEW_SECONDS = 400.0


@dataclass(frozen=True)
class FaultKind:
    summary: str
    runbook: str
    heals_by: str


KINDS: dict[str, FaultKind] = {
    "offline": FaultKind(
        "the runner service crashes (killed by SIGKILL): systemd shows it failed",
        "runner-offline",
        "restart the service",
    ),
    "disk-full": FaultKind(
        "a file under _work/_temp fills the disk; the next job fails with No space left on device",
        "degraded-resources",
        "stop the runner, clean _work (and docker), start it",
    ),
    "memory-pressure": FaultKind(
        "processes a job left behind hold nearly all memory; the kernel killed one",
        "degraded-resources",
        "stop the runner, kill its leftover processes, start it",
    ),
    "registration-expired": FaultKind(
        "GitHub deletes the runner's registration; the listener stops for good",
        "registration-clock",
        "uninstall, remove, register with a fresh token, install",
    ),
    "network-down": FaultKind(
        "systemd-resolved crashes: no name resolves, the listener cannot reach GitHub",
        "network-unreachable",
        "restart systemd-resolved (the DNS fix), then the service",
    ),
    "docker-down": FaultKind(
        "dockerd crashes and systemd gives up restarting it; container jobs fail",
        "docker-daemon",
        "reset-failed and start docker.service, restart the runner",
    ),
    "clock-skew": FaultKind(
        f"NTP is turned off and the clock runs {CLOCK_SKEW_SECONDS:.0f} s ahead; GitHub refuses "
        "the session",
        "registration-clock",
        "restart time sync (or set the clock), restart",
    ),
    "version-deprecated": FaultKind(
        f"the host comes back with runner {DEPRECATED_VERSION}, which GitHub no longer accepts",
        "version-deprecated",
        "download the newest release, unpack it over the install, start",
    ),
    "no-sudo": FaultKind(
        "sudo asks the operator's account for a password (no NOPASSWD rule)",
        "",
        "(an access problem: every sudo -n step fails until it is fixed)",
    ),
}


class FaultError(Exception):
    """The fault cannot be injected or healed; the message says why."""


class LabAccess:
    """What faults and heal need from a running lab: its hosts, plan and GitHub simulator."""

    def __init__(self, layout: LabLayout):
        self.layout = layout
        state = read_lab_state(layout)
        if not state or state.get("state") != "running":
            raise FaultError("no lab is running here: start one with runnerdoc lab up")
        self.state = state
        self.plan = LabPlan.load(layout.plan_json)
        config = tomllib.loads(layout.config_toml.read_text(encoding="utf-8"))
        self.api_url = config["github"]["api_url"]
        self.org = config["github"]["org"]
        self.token = config["github"]["token"]
        self.github_url = config["lab"]["runbook_parameters"]["github_url"]

    def host(self, runner: str) -> RunnerHost:
        names = [r["name"] for r in self.state["runners"]]
        if runner not in names:
            raise FaultError(f"no runner {runner!r} in this lab (runners: {', '.join(names)})")
        return RunnerHost(self.layout.host(runner))

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.request(method, f"{self.api_url}/_sim{path}", json=body, timeout=10)

    def api(self, method: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/vnd.github+json"}
        return httpx.request(method, f"{self.api_url}{path}", headers=headers, timeout=10)

    def runner_exists(self, runner_id: int) -> bool:
        return self.api("GET", f"/orgs/{self.org}/actions/runners/{runner_id}").status_code == 200

    def labels(self, runner: str) -> list[str]:
        for plan in self.plan.runners:
            if plan.name == runner:
                return list(plan.labels)
        return []


def _listening(state: dict[str, Any]) -> bool:
    return state["listener"]["phase"] == "listening"


def inject(lab: LabAccess, runner: str, kind: str) -> str:
    """Break `runner` the way `kind` says; returns what was done, in one line."""
    if kind not in KINDS:
        raise FaultError(f"unknown fault {kind!r}; known: {', '.join(KINDS)}")
    host = lab.host(runner)
    if kind == "registration-expired":
        registration = read_registration(host.runner_root)
        if registration is None:
            raise FaultError(f"{runner} is not registered (no .runner): lab heal {runner} first")
        answer = lab.control("DELETE", f"/runners/{int(registration['agentId'])}")
        if answer.status_code not in (204, 404):
            raise FaultError(f"the GitHub simulator refused: {answer.status_code} {answer.text}")
        with host.locked() as state:
            _note(state, kind)
        return f"GitHub deleted runner {runner} (id {registration['agentId']})"
    if kind == "version-deprecated":
        past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
        answer = lab.control(
            "POST",
            "/deprecations",
            {
                "version": DEPRECATED_VERSION,
                "registration_deprecates_at": past,
                "runtime_deprecates_at": past,
            },
        )
        if answer.status_code != 201:
            raise FaultError(f"the GitHub simulator refused: {answer.status_code} {answer.text}")
    with host.locked() as state:
        unit = state.get("runner_unit")
        done = _apply(lab, host, state, kind, unit)
        _note(state, kind)
    return done


def _note(state: dict[str, Any], kind: str) -> None:
    if kind not in state["faults"]:
        state["faults"].append(kind)


def _apply(lab: LabAccess, host: RunnerHost, state: dict, kind: str, unit: str | None) -> str:
    if kind == "offline":
        if not unit or state["units"][unit]["state"] != "active":
            raise FaultError(f"the runner service of {host.name} is not running")
        state["listener"]["orphan"] = bool(state.get("job"))
        units.fail_unit(host, state, unit, code="killed", status="9/KILL", result="signal")
        return f"{unit} crashed (SIGKILL)"
    if kind == "disk-full":
        d = disk(host, state)
        ballast = host.work / "_temp" / f"artifact-cache-{secrets.token_hex(4)}.tar"
        ballast.parent.mkdir(parents=True, exist_ok=True)
        with ballast.open("wb") as f:
            f.truncate(d.avail)  # sparse: the lab's disk fills, the real one does not
        state["ballast"].append(str(ballast))
        state["forced_job"] = {"docker": False, "duration": 0.5}
        return f"{ballast} ({d.avail / 1024**3:.1f} GiB) filled the disk"
    if kind == "memory-pressure":
        m = memory(state)
        spare = m.available - int(m.total * 0.04)
        if spare <= 0:
            raise FaultError(f"{host.name} has no memory left to take")
        per = spare // 3 // 1024
        root = host.runner_root
        for n in range(3):
            host.add_process(
                state,
                "node",
                f"node {root}/_work/app/app/node_modules/.bin/jest --watchAll --runInBand w{n}",
                user=state["runner_user"],
                rss_kb=per,
                unit=unit or "",
                cpu=0.35,
                leftover=True,
            )
        killed = host.new_pid(state)
        host.log(
            state,
            "kernel",
            f"Out of memory: Killed process {killed} (node) total-vm:"
            f"{per * 3}kB, anon-rss:{per}kB, file-rss:0kB, shmem-rss:0kB, UID:1001 "
            f"pgtables:{per // 512}kB oom_score_adj:0",
            priority=3,
        )
        return f"3 leftover node processes hold {spare / 1024**3:.1f} GiB; the kernel killed one"
    if kind == "network-down":
        name = "systemd-resolved.service"
        pid = state["units"][name]["main_pid"]
        host.log(
            state,
            "systemd-resolved",
            "Assertion 'p->n_ref > 0' failed at "
            "src/resolve/resolved-dns-packet.c:213, function dns_packet_unref(). Aborting.",
            unit=name,
            pid=pid,
            priority=2,
        )
        units.fail_unit(host, state, name, code="dumped", status="6/ABRT", result="core-dump")
        return "systemd-resolved crashed: no name resolves on the host"
    if kind == "docker-down":
        units.crash_docker(host, state)
        state["forced_job"] = {"docker": True, "duration": 0.5}
        return "dockerd crashed; systemd hit its start limit"
    if kind == "clock-skew":
        name = "systemd-timesyncd.service"
        host.log(state, "systemd-timedated", "Set NTP to disabled.", pid=state["next_pid"])
        state["units"][name]["enabled"] = False
        units.stop_unit(host, state, name)
        state["clock"].update(offset=CLOCK_SKEW_SECONDS, synced=False, sync_at=0.0)
        return f"NTP off; the clock is {CLOCK_SKEW_SECONDS:.0f} s ahead"
    if kind == "version-deprecated":
        install_runner_files(host.runner_root, DEPRECATED_VERSION, lab.plan.python)
        if unit and unit in state["units"]:
            units.restart_unit(host, state, unit)
        return f"runner {DEPRECATED_VERSION} installed and restarted; GitHub refuses that version"
    if kind == "no-sudo":
        state["sudo_password"] = True
        return "sudo now asks for a password (sudo -n fails)"
    raise FaultError(f"unknown fault {kind!r}")


def heal(lab: LabAccess, runner: str) -> str:
    """Reset a host to healthy, whatever happened to it (for tests and demos)."""
    host = lab.host(runner)
    root = host.runner_root
    registration = read_registration(root)
    runner_id = int(registration["agentId"]) if registration else 0
    reregistered = False
    if not registration or not (root / ".credentials").exists() or not lab.runner_exists(runner_id):
        token = lab.api("POST", f"/orgs/{lab.org}/actions/runners/registration-token")
        if token.status_code != 201:
            raise FaultError(f"no registration token from the simulator: {token.status_code}")
        answer = lab.control(
            "POST",
            "/register",
            {
                "token": token.json()["token"],
                "name": runner,
                "labels": lab.labels(runner),
                "replace": True,
            },
        )
        if answer.status_code != 201:
            raise FaultError(f"the simulator refused to register {runner}: {answer.text}")
        runner_id = int(answer.json()["id"])
        write_registration(root, runner_id=runner_id, name=runner, github_url=lab.github_url)
        reregistered = True
    if installed_version(root) != CURRENT_RUNNER_VERSION or not (root / "svc.sh").exists():
        install_runner_files(root, CURRENT_RUNNER_VERSION, lab.plan.python)
        (root / "svc.sh").write_bytes((root / "bin" / "svc.sh.template").read_bytes())
        (root / "svc.sh").chmod(0o755)
    with host.locked() as state:
        gone = {p["pid"] for p in state["processes"] if p.get("leftover")}
        RunnerHost.remove_processes(state, gone)
        for path in state["ballast"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        state["ballast"] = []
        for name in ("containerd.service", "docker.service", "systemd-resolved.service"):
            units.reset_failed(state, name)
            units.start_unit(host, state, name)
        state["units"]["systemd-timesyncd.service"]["enabled"] = True
        state["clock"].update(offset=0.0, synced=True, sync_at=0.0)
        units.start_unit(host, state, "systemd-timesyncd.service")
        if state["runner_user"] not in state["groups"]["docker"]["members"]:
            state["groups"]["docker"]["members"].append(state["runner_user"])
        state["sudo_password"] = False
        unit = state.get("runner_unit")
        if not unit or unit not in state["units"]:
            unit = runner_unit_name(lab.org, runner)
            fragment = f"/etc/systemd/system/{unit}"
            record = unit_record(
                f"GitHub Actions Runner ({lab.org}.{runner})", "simple", fragment=fragment
            )
            record["user"] = state["runner_user"]
            state["units"][unit] = record
            state["runner_unit"] = unit
            path = host.fs / fragment.lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(unit_file_text(lab.org, runner, root, state["runner_user"]))
        (root / ".service").write_text(unit + "\n")
        units.reset_failed(state, unit)
        units.restart_unit(host, state, unit)
        state["faults"] = []
        state["forced_job"] = None
    note = f" (registered again as id {runner_id})" if reregistered else ""
    return f"{runner} reset to healthy{note}"
