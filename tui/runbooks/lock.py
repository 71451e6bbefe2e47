"""A lock on the runner host, so two operators never remediate one runner at once.

The lock lives on the host itself (a directory made atomically with mkdir), so it
holds across bastions and laptops; its owner file says who holds it, since when,
and for which run. Only a run that can change things takes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import time

from tui.runbooks.engine import CommandResult, Executor
from tui.text import one_line

LOCK_ROOT = "/tmp"  # noqa: S108 - world-writable with the sticky bit on every Linux host
HELD_EXIT = 3


class LockHeld(Exception):
    """Someone else is remediating this runner; the message names them."""


class LockError(Exception):
    """The lock could not be taken or checked (connection, permissions)."""


def lock_path(runner: str) -> str:
    # Runner names are untrusted: keep a readable safe part, and a digest for uniqueness.
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", runner)[:60]
    digest = hashlib.sha256(runner.encode()).hexdigest()[:8]
    return f"{LOCK_ROOT}/runnerdoc-{safe}-{digest}.lock"


class HostLock:
    def __init__(self, executor: Executor, runner: str, *, run_id: str, operator: str):
        self.executor = executor
        self.runner = runner
        self.run_id = run_id
        self.operator = operator
        self.path = lock_path(runner)
        self.held = False

    def acquire(self, *, break_stale: bool = False) -> None:
        owner = json.dumps(
            {"operator": self.operator, "run_id": self.run_id, "since": int(time.time())}
        )
        path, info = shlex.quote(self.path), shlex.quote(owner)
        if break_stale:
            self._run(f"rm -rf -- {path}")
        # No redirection into files: every path is an argument (tee, cat, grep), which
        # keeps the command plain for auditing and lets the lab map each host's /tmp.
        result = self._run(
            f"if mkdir -- {path} 2>/dev/null; then printf '%s\\n' {info} | tee -- {path}/owner"
            f" >/dev/null; echo acquired; else cat -- {path}/owner 2>/dev/null;"
            f" exit {HELD_EXIT}; fi"
        )
        if result.exit_status == 0 and "acquired" in result.output:
            self.held = True
            return
        if result.exit_status == HELD_EXIT:
            raise LockHeld(self._describe(result.output))
        raise LockError(
            f"cannot take the lock {self.path} on {one_line(self.runner)}: "
            f"{one_line(result.output, limit=200) or result.error or 'no answer'}"
        )

    def release(self) -> None:
        if not self.held:
            return
        path, run_id = shlex.quote(self.path), shlex.quote(self.run_id)
        # Only our own lock: a lock broken and re-taken by someone else stays theirs.
        self._run(f"grep -qF -- {run_id} {path}/owner 2>/dev/null && rm -rf -- {path}")
        self.held = False

    def _run(self, command: str) -> CommandResult:
        return self.executor.run(command, timeout=30)

    def _describe(self, text: str) -> str:
        try:
            owner = json.loads(text.strip().splitlines()[-1])
            since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(owner["since"])))
            operator = one_line(str(owner["operator"]), limit=80)
            who = f"{operator} (run {one_line(str(owner['run_id']))}, since {since})"
        except (ValueError, KeyError, IndexError, TypeError):
            who = "someone (the lock's owner file is unreadable)"
        return (
            f"{one_line(self.runner)} is being remediated by {who}; wait for them, or use"
            f" --break-lock if that run is dead"
        )

    def __enter__(self) -> HostLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
