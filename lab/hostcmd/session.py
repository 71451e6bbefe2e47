"""Who and where a simulated command runs: the lab host, the account, and output helpers.

An SSH session on a lab host runs through the host's login script, which exports
RUNNERDOC_LAB_HOST_DIR (the host) and RUNNERDOC_LAB_USER (the account, changed by the
simulated sudo). The runner's own scripts also find their host from where they lie.
"""

from __future__ import annotations

import os
import pwd
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.host.state import RunnerHost


class NotOnLabHost(Exception):
    """The command was started outside a lab host's session."""


def real_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


@dataclass
class Session:
    host: RunnerHost
    user: str

    @classmethod
    def current(cls, script: str | None = None) -> Session:
        folder = os.environ.get("RUNNERDOC_LAB_HOST_DIR")
        if not folder and script:
            # A runner script: <host>/actions-runner/x.sh or <host>/actions-runner/bin/x.
            here = Path(os.path.abspath(script)).parent
            for candidate in (here.parent, here.parent.parent):
                if (candidate / "state.json").exists():
                    folder = str(candidate)
                    break
        if not folder or not (Path(folder) / "state.json").exists():
            raise NotOnLabHost("this command runs on a lab host: reach one with ssh (lab status)")
        return cls(RunnerHost(Path(folder)), os.environ.get("RUNNERDOC_LAB_USER") or real_user())

    def account(self, state: dict[str, Any], name: str | None = None) -> dict[str, Any] | None:
        return state["accounts"].get(name or self.user)

    def uid(self, state: dict[str, Any]) -> int:
        account = self.account(state)
        return int(account["uid"]) if account else os.getuid()

    def is_root(self, state: dict[str, Any]) -> bool:
        return self.uid(state) == 0

    def in_group(self, state: dict[str, Any], group: str, user: str | None = None) -> bool:
        user = user or self.user
        record = state["groups"].get(group)
        if record is None:
            return False
        account = self.account(state, user)
        return user in record["members"] or (
            account is not None and account["gid"] == record["gid"]
        )


def out(text: str = "") -> None:
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    if not text:
        sys.stdout.write("\n")


def err(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
