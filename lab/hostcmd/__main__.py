"""Entry point of the simulated commands: `python -m lab.hostcmd NAME ARGS...`.

Each lab host's sessions find these first on PATH (the lab writes one small shim per
command into `<lab>/bin`); the runner scripts in the runner root call them too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from lab.hostcmd import docker, network, paths, runner, system, systemd
from lab.hostcmd.session import NotOnLabHost, Session

Command = Callable[[Session, list[str]], int]

COMMANDS: dict[str, Command] = {
    "systemctl": systemd.cmd_systemctl,
    "journalctl": systemd.cmd_journalctl,
    "timedatectl": systemd.cmd_timedatectl,
    "df": system.cmd_df,
    "du": system.cmd_du,
    "free": system.cmd_free,
    "ps": system.cmd_ps,
    "top": system.cmd_top,
    "id": system.cmd_id,
    "whoami": system.cmd_whoami,
    "groups": system.cmd_groups,
    "usermod": system.cmd_usermod,
    "gpasswd": system.cmd_gpasswd,
    "getent": system.cmd_getent,
    "sudo": system.cmd_sudo,
    "date": system.cmd_date,
    "hostname": system.cmd_hostname,
    "uname": system.cmd_uname,
    "curl": network.cmd_curl,
    "dig": network.cmd_dig,
    "openssl": network.cmd_openssl,
    "docker": docker.cmd_docker,
    "ls": paths.cmd_ls,
    "find": paths.cmd_find,
    "chown": paths.cmd_chown,
}
# The runner package's scripts: their first argument is the script's own path.
RUNNER_SCRIPTS: dict[str, Command] = {
    "svc.sh": runner.cmd_svc,
    "config.sh": runner.cmd_config,
    "run.sh": runner.cmd_run,
    "Runner.Listener": runner.cmd_listener,
    "Runner.Worker": runner.cmd_listener,
}
# Real programs that only need the host's system paths redirected.
PASSTHROUGH = (
    "cat",
    "grep",
    "tar",
    "rm",
    "mv",
    "cp",
    "mkdir",
    "tee",
    "head",
    "tail",
    "chmod",
    "touch",
    "truncate",
    "stat",
    "wc",
    "rmdir",
    "ln",
    "sort",
)
SIMULATED = (*COMMANDS, *PASSTHROUGH)


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("usage: python -m lab.hostcmd NAME [ARGS...]\n")
        return 2
    name, args = argv[0], argv[1:]
    try:
        if name in RUNNER_SCRIPTS:
            session = Session.current(args[0] if args else None)
            return RUNNER_SCRIPTS[name](session, args)
        session = Session.current()
        if name in COMMANDS:
            return COMMANDS[name](session, args)
        if name in PASSTHROUGH:
            return paths.run_real(name, args, session)
    except NotOnLabHost as e:
        sys.stderr.write(f"{name}: {e}\n")
        return 127
    except BrokenPipeError:
        # `ps ... | head` closed the pipe: exit quietly, as the real tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    sys.stderr.write(f"{name}: not a lab host command\n")
    return 127


if __name__ == "__main__":
    code = main(sys.argv[1:])
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(code)
