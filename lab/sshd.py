"""Real SSH into the lab's hosts: one OpenSSH sshd per host, keys, known_hosts, the session wrapper.

Each host's sshd listens on 127.0.0.1 on its own port with its own ed25519 host key,
takes only the lab's client key, and runs every session through the host's login script
(ForceCommand): the script puts the lab's simulated commands first on PATH and tells
them which host they are on. The lab writes `known_hosts` (`[127.0.0.1]:PORT ssh-ed25519
...`) so clients verify every host key, and an ssh_config with one `Host` per runner.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab.config import LabLayout
from lab.host.state import RunnerHost
from lab.hostcmd.__main__ import PASSTHROUGH, SIMULATED
from lab.hostcmd.paths import SYSTEM_PATH, VIRTUAL

SSHD = "/usr/sbin/sshd"  # sshd insists on being started by its absolute path


def new_keypair(private_path: Path, comment: str) -> str:
    """An ed25519 key in OpenSSH's format; returns the public key line."""
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    line = f"{public} {comment}"
    private_path.with_name(private_path.name + ".pub").write_text(line + "\n")
    return line


def sshd_config(host: RunnerHost, port: int, layout: LabLayout, user: str) -> str:
    d = host.sshd_dir
    return "\n".join(
        [
            f"# sshd of lab host {host.name}: loopback only, the lab's key only.",
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {d / 'ssh_host_ed25519_key'}",
            f"PidFile {d / 'sshd.pid'}",
            f"AuthorizedKeysFile {layout.ssh / 'authorized_keys'}",
            f"AllowUsers {user}",
            "UsePAM no",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "PermitUserEnvironment no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "X11Forwarding no",
            "PrintMotd no",
            "PrintLastLog no",
            "UseDNS no",
            "MaxStartups 100:30:200",
            "MaxSessions 50",
            "LoginGraceTime 30",
            "LogLevel ERROR",
            f"ForceCommand {host.login_script}",
            "",
        ]
    )


def sshd_argv(host: RunnerHost) -> list[str]:
    d = host.sshd_dir
    return [SSHD, "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")]


def prepare_host_sshd(host: RunnerHost, port: int, layout: LabLayout, user: str) -> str:
    """Host key and sshd config; returns the known_hosts line for the host."""
    host.sshd_dir.mkdir(parents=True, exist_ok=True)
    public = new_keypair(host.sshd_dir / "ssh_host_ed25519_key", f"root@{host.name}")
    (host.sshd_dir / "sshd_config").write_text(sshd_config(host, port, layout, user))
    kind, key = public.split()[:2]
    return f"[127.0.0.1]:{port} {kind} {key}"


def write_login_script(host: RunnerHost, layout: LabLayout, python: str, user: str) -> None:
    """What sshd runs for every session (ForceCommand): the host's identity, then the command."""
    pythonpath = str(Path(__file__).resolve().parent.parent)
    home = host.home / user
    home.mkdir(parents=True, exist_ok=True)
    q = shlex.quote
    rc = host.folder / "bashrc"
    rc.write_text(
        f"PS1='\\u@{host.name}:\\w\\$ '\n"
        f"echo 'Lab host {host.name}: the runner is in {host.runner_root}'\n"
    )
    script = f"""#!/bin/sh
# Every SSH session of lab host {host.name} runs through here (sshd's ForceCommand).
export RUNNERDOC_LAB_DIR={q(str(layout.root))} RUNNERDOC_LAB_OWNER={q(str(layout.root))}
export RUNNERDOC_LAB_HOST_DIR={q(str(host.folder))} RUNNERDOC_LAB_PYTHON={q(python)}
export PYTHONPATH={q(pythonpath)}
export RUNNERDOC_LAB_USER="${{USER:-{user}}}"
export PATH={q(str(layout.bin) + ":" + SYSTEM_PATH)}
export HOME={q(str(home))} HOSTNAME={q(host.name)} TZ=UTC LANG=C.UTF-8
cd "$HOME" || exit 1
if [ -n "$SSH_ORIGINAL_COMMAND" ]; then
  exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"
fi
exec /bin/bash --noprofile --rcfile {q(str(rc))} -i
"""
    host.login_script.write_text(script)
    host.login_script.chmod(0o755)


def write_command_shims(folder: Path, python: str) -> None:
    """`<lab>/bin`: one shim per simulated command (first on every lab session's PATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    q = shlex.quote(python)
    patterns = "|".join(f'*" {p}"*|*"={p}"*' for p in (*VIRTUAL, "/proc/"))
    for name in SIMULATED:
        real = shutil.which(name, path=SYSTEM_PATH)
        if name in PASSTHROUGH and real:
            # The real program, unless an argument names one of the host's system paths.
            text = (
                "#!/bin/sh\n"
                f"# Lab host command: the real {name}, on the lab host's own system paths.\n"
                f'case " $* " in\n'
                f'  {patterns}) exec {q} -m lab.hostcmd {name} "$@" ;;\n'
                "esac\n"
                f'exec {shlex.quote(real)} "$@"\n'
            )
        else:
            text = (
                "#!/bin/sh\n"
                f"# Lab host command: the simulated {name} (python -m lab.hostcmd; docs/lab.md).\n"
                f'exec {q} -m lab.hostcmd {name} "$@"\n'
            )
        path = folder / name
        path.write_text(text)
        path.chmod(0o755)


def write_client_files(
    layout: LabLayout, user: str, ports: dict[str, int], known_hosts: list[str]
) -> None:
    """known_hosts, ssh_config (`ssh -F <lab>/ssh/config RUNNER`) and authorized_keys."""
    ssh = layout.ssh
    (ssh / "known_hosts").write_text("\n".join(known_hosts) + "\n")
    blocks = [
        "# ssh -F this-file RUNNER: reaches a lab host with the lab's key; host keys checked.",
    ]
    for name, port in ports.items():
        blocks.append(
            f"Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n"
            f"  IdentityFile {ssh / 'id_ed25519'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {ssh / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
        )
    (ssh / "config").write_text("\n".join(blocks))
