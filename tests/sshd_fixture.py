"""A real OpenSSH sshd on a free 127.0.0.1 port, run as the current user, for the SSH tests.

Each server gets its own folder with a generated host key, config, authorized_keys and log.
"""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"  # sshd refuses to re-exec itself unless started by absolute path


def keygen(path: Path, key_type: str = "ed25519", passphrase: str = "") -> str:
    """Make a key pair at `path` and return the public key line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    extra = ["-b", "2048"] if key_type == "rsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, *extra, "-N", passphrase, "-C", "test", "-f", path],
        check=True,
        capture_output=True,
    )
    path.chmod(0o600)
    return path.with_name(path.name + ".pub").read_text().strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    folder: Path
    port: int
    host_public_keys: list[str]  # "ssh-ed25519 AAAA... test", one per HostKey
    log: Path
    process: subprocess.Popen[bytes]
    user: str = field(default_factory=getpass.getuser)

    @property
    def known_hosts_line(self) -> str:
        """The known_hosts line for the first host key."""
        return self.known_hosts_line_for(self.host_public_keys[0])

    def known_hosts_line_for(self, public_key: str) -> str:
        key_type, key = public_key.split()[:2]
        return f"[127.0.0.1]:{self.port} {key_type} {key}\n"

    def logins(self) -> int:
        """How many SSH logins (TCP connections that authenticated) this server accepted."""
        return self.log.read_text(errors="replace").count("Accepted publickey")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def connection_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        )
        return [int(p) for p in out.stdout.split()]

    def drop_connections(self) -> None:
        """Kill every open connection, as a host reboot or a network cut would."""
        for pid in self.connection_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.connection_pids() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.drop_connections()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_sshd(
    folder: Path,
    authorized_keys: list[str],
    *,
    extra_config: str = "",
    port: int | None = None,
    host_key_types: tuple[str, ...] = ("ed25519",),
    log_level: str = "VERBOSE",
) -> Sshd:
    """Start `sshd -D -e` on 127.0.0.1 and wait until it listens."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
    host_keys = [folder / f"host_{key_type}" for key_type in host_key_types]
    host_publics = [keygen(path, path.name[5:]) for path in host_keys]
    (folder / "authorized_keys").write_text("".join(k.strip() + "\n" for k in authorized_keys))
    log = folder / "sshd.log"
    for _attempt in range(5):
        chosen = port or _free_port()
        config = folder / "sshd_config"
        lines = [
            f"Port {chosen}",
            "ListenAddress 127.0.0.1",
            *(f"HostKey {path}" for path in host_keys),
            f"PidFile {folder / 'sshd.pid'}",
            "UsePAM no",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            f"AuthorizedKeysFile {folder / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            f"LogLevel {log_level}",
        ]
        config.write_text("\n".join(lines) + "\n" + extra_config)
        with log.open("ab") as out:
            process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            if f"listening on 127.0.0.1 port {chosen}" in log.read_text(errors="replace"):
                return Sshd(folder, chosen, host_publics, log, process)
            time.sleep(0.05)
        if process.poll() is None:
            process.kill()
            process.wait()
        if port is not None:
            break  # a fixed port that failed will not get better
    raise RuntimeError(f"sshd did not start: {log.read_text(errors='replace')[-2000:]}")
