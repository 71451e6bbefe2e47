"""Where a runner is reached: host, port, user, keys and jump hosts.

Comes from runnerdoc's [ssh] settings and ~/.ssh/config (paramiko.SSHConfig); a value set
in runnerdoc's settings wins over the ssh config, as `ssh -l/-p/-i/-J` win over it.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import paramiko

from tui.config import DEFAULT_SSH_USER, SSHSettings
from tui.remote.errors import SSHConfigError

# OpenSSH's default identities, tried when neither runnerdoc nor ssh config names one.
DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")

# Runner names come from GitHub: only plain host names and addresses are let through, so a
# name can never smuggle shell syntax into an ssh config `Match exec` or ProxyCommand.
_HOST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")


@dataclass(frozen=True)
class Hop:
    """One SSH server on the way to a runner: address, login user and keys to offer."""

    host: str
    port: int
    user: str
    identity_files: tuple[Path, ...] = ()

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}:{self.port}"


@dataclass(frozen=True)
class SSHTarget:
    """A runner's host and the jump hosts in front of it, first hop first."""

    runner: str
    host: Hop
    jumps: tuple[Hop, ...] = ()

    @property
    def chain(self) -> tuple[Hop, ...]:
        return (*self.jumps, self.host)

    def describe(self) -> str:
        """`user@host:port`, plus `via jump,...` when there are jump hosts."""
        if not self.jumps:
            return str(self.host)
        return f"{self.host} via {','.join(str(j) for j in self.jumps)}"


def check_host_name(host: str, what: str) -> str:
    if _HOST_NAME.fullmatch(host) or _IPV6.fullmatch(host):
        return host
    raise SSHConfigError(
        f"{what}: {host!r} is not a host name or address; map it to one in [ssh.hosts]"
    )


def split_host_port(text: str, what: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6addr]:port` or a bare IPv6 address -> (host, port or None)."""
    port_text: str | None = None
    if text.startswith("["):
        match = re.fullmatch(r"\[([^\]]+)\](?::([^:]*))?", text)
        if match is None:
            raise SSHConfigError(f"{what}: {text!r} is not host, host:port or [address]:port")
        host, port_text = match.group(1), match.group(2)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    return check_host_name(host, what), _port(port_text, what)


def _port(value: str | int | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise SSHConfigError(f"{what}: port {str(value)!r} is not a number from 1 to 65535")
    return port


def parse_jumps(spec: str, what: str) -> list[tuple[str | None, str, int | None]]:
    """A ProxyJump value, `[user@]host[:port][,...]` or `ssh://...`, as (user, host, port).

    `none` means no jump host, as in ssh config.
    """
    if spec.strip().lower() == "none":
        return []
    hops = []
    for part in spec.split(","):
        part = part.strip().removeprefix("ssh://").rstrip("/")
        if not part:
            raise SSHConfigError(f"{what}: empty jump host in {spec!r}")
        user: str | None = None
        if "@" in part:
            user, part = part.rsplit("@", 1)
            if not _USER.fullmatch(user):
                raise SSHConfigError(f"{what}: {user!r} is not a user name")
        host, port = split_host_port(part, what)
        hops.append((user, host, port))
    return hops


def load_ssh_config(path: Path | None) -> paramiko.SSHConfig | None:
    """The parsed ssh config file, or None when there is none."""
    if path is None or not path.exists():
        return None
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except (OSError, paramiko.ssh_exception.ConfigParseError, ValueError) as e:
        raise SSHConfigError(f"ssh config {path} cannot be read: {type(e).__name__}") from None


def _lookup(config: paramiko.SSHConfig | None, host: str) -> Mapping[str, object]:
    if config is None:
        return {}
    try:
        return config.lookup(host)
    except Exception as e:  # Match exec and token errors surface here
        raise SSHConfigError(f"ssh config lookup for {host} failed: {type(e).__name__}") from None


def _identities(ssh: SSHSettings, options: Mapping[str, object]) -> tuple[Path, ...]:
    found: list[Path] = []
    if ssh.identity_file is not None:
        found.append(Path(ssh.identity_file).expanduser())
    from_config = options.get("identityfile") or []
    if isinstance(from_config, str):
        from_config = [from_config]
    assert isinstance(from_config, list)  # for the type checker: paramiko gives a list
    found.extend(Path(str(p)).expanduser() for p in from_config)
    if not found:
        found = [p for p in (Path(d).expanduser() for d in DEFAULT_IDENTITIES) if p.exists()]
    return tuple(dict.fromkeys(found))


def _hop(
    host: str,
    ssh: SSHSettings,
    config: paramiko.SSHConfig | None,
    *,
    user: str | None,
    port: int | None,
    what: str,
    fallback_user: str = DEFAULT_SSH_USER,
) -> tuple[Hop, Mapping[str, object]]:
    options = _lookup(config, host)
    hostname = check_host_name(str(options.get("hostname", host)), f"{what} (ssh config HostName)")
    config_port = _port(options.get("port"), f"{what} (ssh config Port)")  # type: ignore[arg-type]
    config_user = options.get("user")
    hop = Hop(
        host=hostname,
        port=port or config_port or 22,
        user=user or (str(config_user) if config_user else fallback_user),
        identity_files=_identities(ssh, options),
    )
    return hop, options


def resolve(runner: str, ssh: SSHSettings, config: paramiko.SSHConfig | None) -> SSHTarget:
    """How to reach `runner`: [ssh.hosts] entry (else the runner name), then ssh config."""
    mapped = ssh.hosts.get(runner)
    what = f"[ssh.hosts] {runner}" if mapped else f"runner {runner!r}"
    host, mapped_port = split_host_port(mapped or runner, what)
    hop, options = _hop(host, ssh, config, user=ssh.user, port=mapped_port or ssh.port, what=what)

    jump_spec = ssh.proxy_jump or options.get("proxyjump")
    command = str(options.get("proxycommand", "none"))
    if not jump_spec and command.lower() != "none":
        raise SSHConfigError(
            f"ssh config gives {host} a ProxyCommand, which runnerdoc does not run;"
            " use ProxyJump (or [ssh] proxy_jump) for a bastion"
        )
    jumps: list[Hop] = []
    if jump_spec:
        where = "[ssh] proxy_jump" if ssh.proxy_jump else f"ssh config ProxyJump for {host}"
        for user, jump_host, jump_port in parse_jumps(str(jump_spec), where):
            # A bastion account: [ssh] user when set, else as OpenSSH does, the local user.
            jump, _ = _hop(jump_host, ssh, config, user=user, port=jump_port, what=where,
                           fallback_user=ssh.user or getpass.getuser())  # fmt: skip
            jumps.append(jump)
    return SSHTarget(runner=runner, host=hop, jumps=tuple(jumps))
