"""SSH execution on runner hosts: one checked, reused connection per host; streamed commands.

The runbook engine calls `RunnerHosts(settings.ssh).run(runner, command, timeout=...)`.
"""

from tui.remote.errors import (
    AuthFailed,
    CommandCancelled,
    CommandTimeout,
    ConnectFailed,
    ConnectionLost,
    HostKeyChanged,
    HostKeyError,
    HostKeyRevoked,
    HostKeyUnknown,
    RemoteError,
    SSHConfigError,
)
from tui.remote.known_hosts import KnownHosts, fingerprint, known_hosts_name
from tui.remote.ssh import CommandResult, RunnerHost, RunnerHosts
from tui.remote.target import Hop, SSHTarget, parse_jumps, resolve

__all__ = [
    "AuthFailed",
    "CommandCancelled",
    "CommandResult",
    "CommandTimeout",
    "ConnectFailed",
    "ConnectionLost",
    "Hop",
    "HostKeyChanged",
    "HostKeyError",
    "HostKeyRevoked",
    "HostKeyUnknown",
    "KnownHosts",
    "RemoteError",
    "RunnerHost",
    "RunnerHosts",
    "SSHConfigError",
    "SSHTarget",
    "fingerprint",
    "known_hosts_name",
    "parse_jumps",
    "resolve",
]
