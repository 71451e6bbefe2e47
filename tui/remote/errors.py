"""What can go wrong on the way to a runner host, as typed errors with one-line messages.

Messages name the host and say what to do; they never carry key material, passphrases
or tokens, and outside text in them (server replies, names) is made safe to show.
"""

from __future__ import annotations

from tui.text import one_line


class RemoteError(Exception):
    """Base of every SSH layer error; `str(error)` is one line fit for the screen."""

    def __init__(self, message: str, *, host: str | None = None):
        self.message = one_line(message, limit=1000)
        self.host = host
        super().__init__(self.message)


class SSHConfigError(RemoteError):
    """The SSH settings or ~/.ssh/config cannot be used (bad jump spec, bad host name...)."""


class ConnectFailed(RemoteError):
    """No SSH session could be set up: DNS, refused, timed out, jump host would not forward."""


class AuthFailed(RemoteError):
    """The host did not accept any of the keys offered."""


class HostKeyError(RemoteError):
    """The host's key is not one known_hosts vouches for; the connection was refused."""

    def __init__(
        self,
        message: str,
        *,
        host: str,
        port: int,
        key_type: str,
        fingerprint: str,
    ):
        super().__init__(message, host=host)
        self.port = port
        self.key_type = key_type
        self.fingerprint = fingerprint


class HostKeyUnknown(HostKeyError):
    """known_hosts has no key for this host: refused, never added automatically."""


class HostKeyChanged(HostKeyError):
    """known_hosts holds a different key for this host: possibly a man-in-the-middle."""

    def __init__(
        self,
        message: str,
        *,
        host: str,
        port: int,
        key_type: str,
        fingerprint: str,
        known_key_type: str,
        known_fingerprint: str,
        known_hosts_file: str,
        known_hosts_line: int,
    ):
        super().__init__(message, host=host, port=port, key_type=key_type, fingerprint=fingerprint)
        self.known_key_type = known_key_type
        self.known_fingerprint = known_fingerprint
        self.known_hosts_file = known_hosts_file
        self.known_hosts_line = known_hosts_line


class HostKeyRevoked(HostKeyError):
    """The host offered a key that known_hosts marks @revoked."""


class ConnectionLost(RemoteError):
    """The connection dropped while a command ran: what the command did is unknown.

    `output` holds what arrived before the drop.
    """

    def __init__(self, message: str, *, host: str | None = None, output: str = ""):
        super().__init__(message, host=host)
        self.output = output


class CommandTimeout(RemoteError):
    """A command ran past its time limit (raised by `CommandResult.check_finished`)."""


class CommandCancelled(RemoteError):
    """The on-call stopped a command (raised by `CommandResult.check_finished`)."""
