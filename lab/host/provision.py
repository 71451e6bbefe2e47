"""Builds a new lab host: its folders, a configured runner install, its state, running units."""

from __future__ import annotations

import time
from pathlib import Path

from lab.host import units
from lab.host.files import create_runner_root
from lab.host.state import RunnerHost, initial_state

# Processes of a booted Debian host that no unit of the lab's models owns.
BASE_PROCESSES = (
    (1, "systemd", "/sbin/init", "root", 12_400),
    (310, "systemd-udevd", "/lib/systemd/systemd-udevd", "root", 7_100),
    (
        530,
        "dbus-daemon",
        "/usr/bin/dbus-daemon --system --address=systemd: --nofork",
        "messagebus",
        5_200,
    ),
    (541, "systemd-logind", "/lib/systemd/systemd-logind", "root", 8_000),
    (802, "agetty", "/sbin/agetty -o -p -- \\u --noclear - linux", "root", 1_900),
)
BOOT_UNITS = (
    "systemd-journald.service",
    "systemd-resolved.service",
    "systemd-timesyncd.service",
    "containerd.service",
    "docker.service",
    "ssh.service",
    "cron.service",
)


def runner_unit_name(org: str, name: str) -> str:
    """The unit name svc.sh installs for an organisation runner."""
    return f"actions.runner.{org}.{name}.service"


def provision_host(
    folder: Path,
    *,
    name: str,
    org: str,
    runner_id: int,
    version: str,
    github_url: str,
    github_api_url: str,
    python: str,
    login_user: str,
    login_uid: int,
    login_gid: int,
    job_interval: float,
) -> RunnerHost:
    """A healthy host whose runner service is starting (the supervisor's ticker connects it)."""
    folder.mkdir(parents=True, exist_ok=True)
    host = RunnerHost(folder)
    unit = runner_unit_name(org, name)
    boot = time.time() - 3 * 86400 - 7380  # up for three days and some
    state = initial_state(
        name,
        org=org,
        login_user=login_user,
        login_uid=login_uid,
        login_gid=login_gid,
        runner_unit=unit,
        job_interval=job_interval,
        boot_time=boot,
        github_api_url=github_api_url,
    )
    state["units"][unit]["user"] = "runner"
    create_runner_root(
        host,
        runner_id=runner_id,
        name=name,
        org=org,
        github_url=github_url,
        version=version,
        python=python,
        unit=unit,
        user="runner",
    )
    (host.home / login_user).mkdir(parents=True, exist_ok=True)
    host.journal_file.touch()
    for pid, comm, args, user, rss in BASE_PROCESSES:
        proc = host.add_process(state, comm, args, user=user, rss_kb=rss, pid=pid, ppid=0)
        proc["start"] = boot
    for boot_unit in BOOT_UNITS:
        units.start_unit(host, state, boot_unit)
    for proc in state["processes"]:
        proc["start"] = boot
    units.start_unit(host, state, unit)
    host.write(state)
    return host
