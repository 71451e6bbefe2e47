"""One simulated runner host: its folder, its locked state file and its journal.

The supervisor's ticker, the simulated commands that SSH sessions run and `lab fault` all
change a host through `RunnerHost.locked()`, which holds an exclusive file lock while the
state is read, changed and written back, so no one ever sees half a change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lab.host.timefmt import runner_utc

GIB = 1024**3
MIB = 1024**2

# The host's root filesystem, as node_exporter and df see it.
DISK_SIZE = 100 * GIB
DISK_BASE_USED = int(14.2 * GIB)
DISK_DEVICE = "/dev/nvme0n1p1"
INODES = 6_553_600
INODES_BASE_USED = 214_000
MEM_TOTAL = 16 * GIB - 340 * MIB  # the kernel keeps some for itself
MEM_BASE_USED = 610 * MIB  # kernel, page tables and the processes not listed below
CPUS = 4

SYSTEM_UNITS = {
    "docker.service": ("Docker Application Container Engine", "notify"),
    "containerd.service": ("containerd container runtime", "notify"),
    "systemd-resolved.service": ("Network Name Resolution", "notify"),
    "systemd-timesyncd.service": ("Network Time Synchronization", "notify"),
    "ssh.service": ("OpenBSD Secure Shell server", "notify"),
    "cron.service": ("Regular background program processing daemon", "simple"),
    "systemd-journald.service": ("Journal Service", "notify"),
}

# Accounts every lab host has besides the login account of whoever runs the lab.
BASE_ACCOUNTS = {
    "root": {"uid": 0, "gid": 0, "home": "/root", "shell": "/bin/bash"},
    "systemd-resolve": {"uid": 991, "gid": 991, "home": "/", "shell": "/usr/sbin/nologin"},
    "systemd-timesync": {"uid": 992, "gid": 992, "home": "/", "shell": "/usr/sbin/nologin"},
    "runner": {"uid": 1001, "gid": 1001, "home": "/home/runner", "shell": "/bin/bash"},
}
BASE_GROUPS = {
    "root": {"gid": 0, "members": []},
    "adm": {"gid": 4, "members": []},
    "sudo": {"gid": 27, "members": []},
    "systemd-resolve": {"gid": 991, "members": []},
    "systemd-timesync": {"gid": 992, "members": []},
    "docker": {"gid": 999, "members": ["runner"]},
    "runner": {"gid": 1001, "members": []},
}


class HostError(RuntimeError):
    """A lab host folder that is missing or broken."""


class RunnerHost:
    """The files of one lab host. Cheap to create: it only knows its folder."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.name = self.folder.name

    # ----- where things are ------------------------------------------------------------------

    @property
    def runner_root(self) -> Path:
        return self.folder / "actions-runner"

    @property
    def diag(self) -> Path:
        return self.runner_root / "_diag"

    @property
    def work(self) -> Path:
        return self.runner_root / "_work"

    @property
    def fs(self) -> Path:
        """Where the host's system paths (/tmp, /var/lib/docker, /etc/...) really are."""
        return self.folder / "fs"

    @property
    def state_file(self) -> Path:
        return self.folder / "state.json"

    @property
    def journal_file(self) -> Path:
        return self.folder / "journal.jsonl"

    @property
    def sshd_dir(self) -> Path:
        return self.folder / "sshd"

    @property
    def login_script(self) -> Path:
        return self.folder / "login.sh"

    @property
    def home(self) -> Path:
        return self.folder / "home"

    # ----- state -----------------------------------------------------------------------------

    def read(self) -> dict[str, Any]:
        """The state as last written (writes replace the file whole, so no lock is needed)."""
        try:
            return json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HostError(f"{self.folder} is not a lab host (no state.json)") from None

    def write(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_name(f".state.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.state_file)

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """The state for changing: written back on leaving if anything changed.

        Not re-entrant: flock locks belong to the open file, so a second `locked()` in
        the same process waits for the first forever.
        """
        fd = os.open(self.folder / "state.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = self.read()
            before = json.dumps(state, sort_keys=True)
            yield state
            if json.dumps(state, sort_keys=True) != before:
                self.write(state)
        finally:
            os.close(fd)  # closing releases the lock

    # ----- clock -----------------------------------------------------------------------------

    @staticmethod
    def now(state: dict[str, Any]) -> float:
        """The host's clock: real time plus its offset (clock-skew moves it)."""
        return time.time() + float(state["clock"]["offset"])

    # ----- journal ---------------------------------------------------------------------------

    def log(
        self,
        state: dict[str, Any],
        ident: str,
        message: str,
        *,
        unit: str = "",
        pid: int | None = None,
        priority: int = 6,
        invocation: str = "",
    ) -> None:
        """Append one journal entry, stamped with the host's clock (call under `locked()`)."""
        entry = {
            "t": round(self.now(state), 6),
            "r": round(time.time(), 6),
            "i": ident,
            "p": pid,
            "u": unit,
            "m": message,
            "pr": priority,
            "inv": invocation,
        }
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        with self.journal_file.open("a", encoding="utf-8") as out:
            out.write(line)

    def journal(self) -> list[dict[str, Any]]:
        """Every journal entry, oldest first (a half-written last line is left out)."""
        try:
            text = self.journal_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
        return entries

    # ----- the runner's own logs in _diag ----------------------------------------------------

    def diag_line(
        self, state: dict[str, Any], file: str, level: str, component: str, text: str
    ) -> None:
        """One `_diag` log entry in the runner's format: `[2024-05-01 10:00:00Z INFO X] text`.

        Lines after the first of a multi-line text continue without the prefix, as the
        runner writes exception traces.
        """
        if not file:
            return
        self.diag.mkdir(parents=True, exist_ok=True)
        stamp = runner_utc(self.now(state))
        with (self.diag / file).open("a", encoding="utf-8") as out:
            out.write(f"[{stamp} {level:<4} {component}] {text}\n")

    # ----- processes ---------------------------------------------------------------------------

    @staticmethod
    def new_pid(state: dict[str, Any], step: int = 1) -> int:
        pid = int(state["next_pid"])
        state["next_pid"] = pid + step
        return pid

    def add_process(
        self,
        state: dict[str, Any],
        comm: str,
        args: str,
        *,
        user: str,
        rss_kb: int,
        unit: str = "",
        ppid: int = 1,
        cpu: float = 0.0,
        leftover: bool = False,
        pid: int | None = None,
    ) -> dict[str, Any]:
        """A running process in the host's process table (what ps, top and free see)."""
        account = state["accounts"].get(user, {})
        groups = [g["gid"] for g in state["groups"].values() if user in g["members"]]
        proc = {
            "pid": pid if pid is not None else self.new_pid(state),
            "ppid": ppid,
            "user": user,
            "comm": comm[:15],
            "args": args,
            "rss": rss_kb,
            "vsz": rss_kb * 3 + 8000,
            "start": time.time(),
            "unit": unit,
            "cpu": cpu,
            "leftover": leftover,
            # A process keeps the groups it started with (what /proc/PID/status shows).
            "groups": sorted({account.get("gid", 0), *groups}),
        }
        state["processes"].append(proc)
        return proc

    @staticmethod
    def remove_processes(state: dict[str, Any], pids: set[int]) -> None:
        state["processes"] = [p for p in state["processes"] if p["pid"] not in pids]

    @staticmethod
    def process(state: dict[str, Any], pid: int) -> dict[str, Any] | None:
        for p in state["processes"]:
            if p["pid"] == pid:
                return p
        return None


def unit_record(description: str, unit_type: str, *, fragment: str, enabled: bool = True) -> dict:
    return {
        "description": description,
        "type": unit_type,
        "fragment": fragment,
        "enabled": enabled,
        "state": "inactive",
        "sub": "dead",
        "result": "success",
        "main_pid": 0,
        "exec_main_status": 0,
        "exec_main_code": "",
        "active_enter": 0.0,
        "inactive_enter": 0.0,
        "state_change": 0.0,
        "invocation": "",
        "restarts": 0,
        "start_limit_hit": False,
        "environment": "",
    }


def initial_state(
    name: str,
    *,
    org: str,
    login_user: str,
    login_uid: int,
    login_gid: int,
    runner_unit: str,
    job_interval: float,
    boot_time: float,
    github_api_url: str = "",
) -> dict[str, Any]:
    """A healthy host before its units start: every unit is loaded and stopped."""
    accounts = {k: dict(v) for k, v in BASE_ACCOUNTS.items()}
    groups = {k: {"gid": v["gid"], "members": list(v["members"])} for k, v in BASE_GROUPS.items()}
    if login_user not in accounts:
        accounts[login_user] = {
            "uid": login_uid,
            "gid": login_gid,
            "home": f"/home/{login_user}",
            "shell": "/bin/bash",
        }
        groups.setdefault(login_user, {"gid": login_gid, "members": []})
        # The operator's account: may read every journal and use sudo.
        groups["adm"]["members"].append(login_user)
        groups["sudo"]["members"].append(login_user)
    units = {
        name_: unit_record(desc, kind, fragment=f"/lib/systemd/system/{name_}")
        for name_, (desc, kind) in SYSTEM_UNITS.items()
    }
    units[runner_unit] = unit_record(
        f"GitHub Actions Runner ({org}.{name})",
        "simple",
        fragment=f"/etc/systemd/system/{runner_unit}",
    )
    return {
        "name": name,
        "org": org,
        # The GitHub simulator's address for the host's config.sh and run.sh.
        "github_api_url": github_api_url,
        "boot_time": boot_time,
        "runner_unit": runner_unit,
        "runner_user": "runner",
        "login_user": login_user,
        "accounts": accounts,
        "groups": groups,
        "units": units,
        "listener": {
            "phase": "down",
            "since": 0.0,
            "retries": 0,
            "runner_id": 0,
            "version": "",
            "log": "",
            "connected_once": False,
        },
        "job": None,
        "forced_job": None,
        "next_job_at": 0.0,
        "job_interval": job_interval,
        "jobs_run": 0,
        "clock": {"offset": 0.0, "synced": True, "sync_at": 0.0},
        "memory": {"total": MEM_TOTAL, "base_used": MEM_BASE_USED},
        "disk": {
            "size": DISK_SIZE,
            "base_used": DISK_BASE_USED,
            "inodes": INODES,
            "base_inodes_used": INODES_BASE_USED,
            "device": DISK_DEVICE,
        },
        "cpu": {"snap": boot_time, "counters": {}, "busy": 0.0},
        "docker": default_docker_state(boot_time),
        "processes": [],
        "next_pid": 1200,
        "sudo_password": False,
        "faults": [],
        "ballast": [],
    }


def default_docker_state(now: float) -> dict[str, Any]:
    """What a runner host that ran container jobs for a while holds in /var/lib/docker."""
    day = 86400
    return {
        "images": [
            {
                "repository": "ubuntu",
                "tag": "22.04",
                "id": "sha256:52882761a72a",
                "size": 77_900_000,
                "created": now - 20 * day,
                "in_use": False,
            },
            {
                "repository": "node",
                "tag": "20-bookworm",
                "id": "sha256:1de022d8459f",
                "size": 1_100_000_000,
                "created": now - 12 * day,
                "in_use": False,
            },
            {
                "repository": "postgres",
                "tag": "16",
                "id": "sha256:b781f3a53e61",
                "size": 432_000_000,
                "created": now - 9 * day,
                "in_use": False,
            },
        ],
        "containers": [
            {
                "id": "4f1c2a9be0d3",
                "image": "node:20-bookworm",
                "command": '"docker-entrypoint.s…"',
                "created": now - 3 * day,
                "status": "Exited (0) 3 days ago",
                "running": False,
                "size": 86_000_000,
                "name": "nostalgic_hopper",
            },
            {
                "id": "9ab07c55e1f2",
                "image": "postgres:16",
                "command": '"docker-entrypoint.s…"',
                "created": now - 2 * day,
                "status": "Exited (137) 2 days ago",
                "running": False,
                "size": 34_000_000,
                "name": "gh_svc_postgres_1d2e3f",
            },
        ],
        "volumes": [{"name": "runner-cache", "size": 45_000_000, "in_use": False}],
        "build_cache": {"count": 38, "size": 1_940_000_000, "created": now - 3 * day},
    }
