"""The lab's processes: told apart from every other process by PID, start time and marker.

A PID alone can be reused after its process ended, so the lab records each child's
start time (field 22 of /proc/PID/stat) with its PID and only ever signals a process
whose start time still matches. Processes the lab did not start itself (SSH sessions on
its hosts) carry RUNNERDOC_LAB_OWNER=<lab folder> in their environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

MARKER = "RUNNERDOC_LAB_OWNER"


def start_time(pid: int) -> int | None:
    """Clock ticks since boot when `pid` started, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[19])


def same_process(pid: int, started: int | None) -> bool:
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def is_zombie(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, PermissionError):
        return False
    return raw[raw.rfind(")") + 2 :].split()[0] == "Z"


def alive(pid: int, started: int | None) -> bool:
    return same_process(pid, started) and not is_zombie(pid)


def marked(root: Path) -> list[int]:
    """PIDs whose environment says they belong to the lab in `root` (never this process)."""
    needle = f"{MARKER}={root}".encode()
    mine = {os.getpid(), os.getppid()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def end(pid: int, started: int | None, *, group: bool = False, timeout: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL after `timeout`; to its process group when it leads one.

    Returns True when the process is gone.
    """
    if not same_process(pid, started):
        return True
    lead = group and _leads_group(pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if lead:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline:
            if not alive(pid, started):
                return True
            time.sleep(0.05)
    return not alive(pid, started)


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False
