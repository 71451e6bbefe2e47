"""The systemd of a lab host: units start, stop, crash and fail, and the journal says so.

`systemctl`, `svc.sh`, `timedatectl`, the runner service's ticker, `lab fault` and
`lab heal` all change units through these functions, so every path writes the same
journal lines that systemd 252 (Debian 12) writes.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from lab.host.state import RunnerHost

# Processes each system unit runs: (comm, command line, user, RSS in KiB).
UNIT_PROCESSES = {
    "docker.service": [
        (
            "dockerd",
            "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock",
            "root",
            86_400,
        )
    ],
    "containerd.service": [("containerd", "/usr/bin/containerd", "root", 48_200)],
    "systemd-resolved.service": [
        ("systemd-resolve", "/lib/systemd/systemd-resolved", "systemd-resolve", 13_100)
    ],
    "systemd-timesyncd.service": [
        ("systemd-timesyn", "/lib/systemd/systemd-timesyncd", "systemd-timesync", 7_200)
    ],
    "ssh.service": [
        ("sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", "root", 9_300)
    ],
    "cron.service": [("cron", "/usr/sbin/cron -f", "root", 2_800)],
    "systemd-journald.service": [
        ("systemd-journal", "/lib/systemd/systemd-journald", "root", 25_600)
    ],
}

SYSTEMD = "systemd"


class UnitError(Exception):
    """systemctl's refusal, worded as systemctl words it; `code` is its exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def unit_name(name: str) -> str:
    """systemctl adds `.service` to a name without a type suffix."""
    if "." in name and name.rsplit(".", 1)[1] in ("service", "socket", "timer", "target", "mount"):
        return name
    return name + ".service"


def get_unit(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    return state["units"].get(unit_name(name))


def is_runner_unit(state: dict[str, Any], name: str) -> bool:
    return bool(state.get("runner_unit")) and unit_name(name) == state["runner_unit"]


def _journal(host: RunnerHost, state: dict, name: str, message: str, priority: int = 6) -> None:
    unit = state["units"].get(name, {})
    host.log(
        state,
        SYSTEMD,
        message,
        unit=name,
        pid=1,
        priority=priority,
        invocation=unit.get("invocation", ""),
    )


def _title(state: dict, name: str) -> str:
    return f"{name} - {state['units'][name]['description']}"


def runner_main_ident(state: dict) -> tuple[str, int]:
    """The journal identifier and PID of the runner service's lines: runsvc.sh[MAINPID]."""
    unit = state["units"].get(state.get("runner_unit") or "", {})
    return "runsvc.sh", int(unit.get("main_pid") or 0)


def runner_say(host: RunnerHost, state: dict, message: str, priority: int = 6) -> None:
    """A line the runner service prints: it lands in the journal under runsvc.sh[PID]."""
    ident, pid = runner_main_ident(state)
    name = state["runner_unit"]
    unit = state["units"].get(name, {})
    host.log(
        state,
        ident,
        message,
        unit=name,
        pid=pid,
        priority=priority,
        invocation=unit.get("invocation", ""),
    )


def _unit_processes(host: RunnerHost, state: dict, name: str, main_pid: int) -> None:
    if is_runner_unit(state, name):
        root = host.runner_root
        user = state["units"][name].get("user") or state["runner_user"]
        host.add_process(
            state,
            "runsvc.sh",
            f"/bin/bash {root}/runsvc.sh",
            user=user,
            rss_kb=3_600,
            unit=name,
            pid=main_pid,
        )
        node = host.add_process(
            state,
            "node",
            "./externals/node20/bin/node ./bin/RunnerService.js",
            user=user,
            rss_kb=52_400,
            unit=name,
            ppid=main_pid,
        )
        host.add_process(
            state,
            "Runner.Listener",
            f"{root}/bin/Runner.Listener run --startuptype service",
            user=user,
            rss_kb=98_300,
            unit=name,
            ppid=node["pid"],
            cpu=0.01,
        )
        return
    for i, (comm, args, user, rss) in enumerate(UNIT_PROCESSES.get(name, [])):
        host.add_process(
            state, comm, args, user=user, rss_kb=rss, unit=name, pid=main_pid if i == 0 else None
        )


def _drop_unit_processes(state: dict, name: str, *, leftovers_too: bool = False) -> list[dict]:
    gone = [
        p
        for p in state["processes"]
        if p["unit"] == name and (leftovers_too or not p.get("leftover"))
    ]
    RunnerHost.remove_processes(state, {p["pid"] for p in gone})
    return gone


def start_unit(host: RunnerHost, state: dict, name: str) -> None:
    """`systemctl start`: nothing happens to an active unit; a refused start raises."""
    name = unit_name(name)
    unit = state["units"].get(name)
    if unit is None:
        raise UnitError(f"Failed to start {name}: Unit {name} not found.", 5)
    if unit["state"] == "active":
        return
    if unit.get("start_limit_hit"):
        raise UnitError(
            f'Job for {name} failed.\nSee "systemctl status {name}" and '
            f'"journalctl -xeu {name}" for details.'
        )
    now = host.now(state)
    unit["invocation"] = secrets.token_hex(16)
    _journal(host, state, name, f"Starting {_title(state, name)}...")
    main_pid = host.new_pid(state, step=3)
    unit.update(
        state="active",
        sub="running",
        result="success",
        main_pid=main_pid,
        active_enter=now,
        state_change=now,
        exec_main_status=0,
        exec_main_code="",
    )
    _unit_processes(host, state, name, main_pid)
    main = RunnerHost.process(state, main_pid)
    unit["exec_start"] = (
        f"{host.runner_root}/runsvc.sh"
        if is_runner_unit(state, name)
        else (main or {}).get("args", "")
    ).split(" ")[0]
    _journal(host, state, name, f"Started {_title(state, name)}.")
    if is_runner_unit(state, name):
        listener_pid = next(
            p["pid"]
            for p in state["processes"]
            if p["unit"] == name and p["comm"] == "Runner.Listener"
        )
        runner_say(
            host, state, ".path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        )
        runner_say(host, state, "Starting Runner listener with startup type: service")
        runner_say(host, state, f"Started listener process, pid: {listener_pid}")
        runner_say(host, state, "Started running service")
        state["listener"].update(phase="starting", since=time.time(), retries=0, log="")
    if name == "systemd-timesyncd.service" and not state["clock"]["synced"]:
        # timesyncd reaches its NTP server within a second or two of starting.
        state["clock"]["sync_at"] = time.time() + 1.0


def cancel_job(host: RunnerHost, state: dict) -> None:
    job = state.get("job")
    if not job:
        return
    host.diag_line(
        state, job["log"], "INFO", "JobRunner", "Job result after all job steps finish: Canceled"
    )
    RunnerHost.remove_processes(state, {job["pid"]})
    state.setdefault("finished_jobs", []).append(
        {"id": job.get("sim_id"), "conclusion": "cancelled"}
    )
    state["job"] = None


def _went_down(host: RunnerHost, state: dict, name: str, now: float) -> None:
    unit = state["units"][name]
    unit.update(last_pid=unit["main_pid"], main_pid=0, inactive_enter=now, state_change=now)
    _drop_unit_processes(state, name)
    if is_runner_unit(state, name):
        cancel_job(host, state)
        state["listener"].update(phase="down", since=time.time())
    for p in state["processes"]:
        if p["unit"] == name and p.get("leftover"):
            # KillMode=process: systemd leaves a job's background processes behind.
            _journal(
                host,
                state,
                name,
                f"{name}: Unit process {p['pid']} ({p['comm']}) remains running after unit "
                "stopped.",
                priority=4,
            )


def stop_unit(host: RunnerHost, state: dict, name: str) -> None:
    """`systemctl stop`: a graceful stop; processes a job left behind stay (KillMode=process)."""
    name = unit_name(name)
    unit = state["units"].get(name)
    if unit is None:
        raise UnitError(f"Failed to stop {name}: Unit {name} not loaded.", 5)
    if unit["state"] != "active":
        return
    now = host.now(state)
    _journal(host, state, name, f"Stopping {_title(state, name)}...")
    if is_runner_unit(state, name):
        runner_say(host, state, "Shutting down runner listener")
        runner_say(host, state, "Sending SIGINT to runner listener to stop")
        runner_say(host, state, "Exiting...")
    unit.update(state="inactive", sub="dead", result="success", exec_main_code="exited")
    _went_down(host, state, name, now)
    _journal(host, state, name, f"{name}: Deactivated successfully.")
    _journal(host, state, name, f"Stopped {_title(state, name)}.")


def restart_unit(host: RunnerHost, state: dict, name: str) -> None:
    name = unit_name(name)
    if name not in state["units"]:
        raise UnitError(f"Failed to restart {name}: Unit {name} not found.", 5)
    stop_unit(host, state, name)
    start_unit(host, state, name)


def exit_unit(host: RunnerHost, state: dict, name: str) -> None:
    """The main process ended by itself with status 0 ("no retry needed"): inactive, no error."""
    name = unit_name(name)
    unit = state["units"][name]
    if unit["state"] != "active":
        return
    unit.update(
        state="inactive", sub="dead", result="success", exec_main_code="exited", exec_main_status=0
    )
    _went_down(host, state, name, host.now(state))
    _journal(host, state, name, f"{name}: Deactivated successfully.")


def fail_unit(
    host: RunnerHost,
    state: dict,
    name: str,
    *,
    code: str = "killed",
    status: str = "9/KILL",
    result: str = "signal",
) -> None:
    """The main process died: the unit is `failed` and the journal says how."""
    name = unit_name(name)
    unit = state["units"][name]
    if unit["state"] != "active":
        return
    now = host.now(state)
    _journal(
        host, state, name, f"{name}: Main process exited, code={code}, status={status}", priority=5
    )
    unit.update(
        state="failed",
        sub="failed",
        result=result,
        exec_main_code=code,
        exec_main_status=int(status.split("/")[0]),
    )
    _went_down(host, state, name, now)
    _journal(host, state, name, f"{name}: Failed with result '{result}'.", priority=4)


def kill_unit(host: RunnerHost, state: dict, name: str, signal: str = "SIGTERM") -> None:
    """`systemctl kill`: the signal goes to every process of the unit, leftovers too."""
    name = unit_name(name)
    unit = state["units"].get(name)
    if unit is None:
        raise UnitError(f"Failed to kill unit {name}: Unit {name} not loaded.", 5)
    if unit["state"] == "active":
        # runsvc.sh ends cleanly on SIGTERM, as on a stop.
        stop_unit(host, state, name)
    _drop_unit_processes(state, name, leftovers_too=True)


def reset_failed(state: dict, name: str) -> None:
    name = unit_name(name)
    unit = state["units"].get(name)
    if unit is None:
        raise UnitError(f"Failed to reset failed state of unit {name}: Unit {name} not loaded.")
    if unit["state"] == "failed":
        unit.update(state="inactive", sub="dead", result="success")
    unit["start_limit_hit"] = False


def crash_docker(host: RunnerHost, state: dict) -> None:
    """dockerd dies and systemd gives up restarting it: the usual 'docker is down' picture."""
    name = "docker.service"
    unit = state["units"][name]
    if unit["state"] != "active":
        start_unit(host, state, name)
    dockerd = unit["main_pid"]
    host.log(
        state,
        "dockerd",
        f'time="{_go_time(host.now(state))}" level=error msg="failed to dial \\"/run/containerd/'
        'containerd.sock\\": context deadline exceeded"',
        unit=name,
        pid=dockerd,
        priority=6,
    )
    host.log(
        state,
        "dockerd",
        "failed to start containerd: timeout waiting for containerd to start",
        unit=name,
        pid=dockerd,
    )
    fail_unit(host, state, name, code="exited", status="1/FAILURE", result="exit-code")
    for attempt in (1, 2, 3, 4, 5):
        _journal(
            host, state, name, f"{name}: Scheduled restart job, restart counter is at {attempt}."
        )
    _journal(host, state, name, f"Stopped {_title(state, name)}.")
    _journal(host, state, name, f"{name}: Start request repeated too quickly.", priority=4)
    _journal(host, state, name, f"{name}: Failed with result 'exit-code'.", priority=4)
    _journal(host, state, name, f"Failed to start {_title(state, name)}.", priority=3)
    unit["start_limit_hit"] = True
    unit["restarts"] = 5


def _go_time(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
