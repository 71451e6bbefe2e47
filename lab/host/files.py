"""The files of a runner install on a lab host, and the release packages the lab serves.

A lab host's runner root looks like a real one: `.runner`, `.credentials`,
`.credentials_rsaparams`, `.env`, `.path`, `.service`, `svc.sh`, `config.sh`, `run.sh`,
`bin/Runner.Listener`, `_diag/` and `_work/`. The scripts and binaries are small shell
stand-ins that hand over to `python -m lab.hostcmd`, which acts on the host's simulated
state; `bin/Runner.Listener --version` answers from the file itself, so unpacking a new
release over the install really changes the version the service starts with.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import secrets
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

from lab.host.state import RunnerHost
from lab.host.timefmt import diag_file_stamp, runner_utc

RELEASED_VERSIONS = ("2.317.0", "2.319.1", "2.328.0", "2.329.0", "2.330.0")
_VERSION = re.compile(r"^RUNNER_VERSION=([0-9]+\.[0-9]+\.[0-9]+)$", re.M)

_SHIM = """#!/bin/sh
# Lab stand-in for the GitHub Actions runner's {name}: it acts on this lab host's
# simulated state (see docs/lab.md). The real one ships in the runner package.
exec "${{RUNNERDOC_LAB_PYTHON:-{python}}}" -m lab.hostcmd {name} "$0" "$@"
"""

_LISTENER = """#!/bin/sh
# Lab stand-in for the GitHub Actions runner's {name} binary (see docs/lab.md).
RUNNER_VERSION={version}
case "$1" in
  --version) echo "$RUNNER_VERSION"; exit 0 ;;
  --commit) echo "{commit}"; exit 0 ;;
esac
exec "${{RUNNERDOC_LAB_PYTHON:-{python}}}" -m lab.hostcmd {name} "$0" "$@"
"""

_ENV_SH = """#!/bin/bash
# Writes the variables the runner service should see into .env, as the real env.sh does.
varCheckList=('LANG' 'JAVA_HOME' 'ANT_HOME' 'M2_HOME' 'ANDROID_HOME' 'GRADLE_HOME' 'NVM_BIN')
envContents=""
if [ -f ".env" ]; then envContents=$(cat .env); else touch .env; fi
for var_name in "${varCheckList[@]}"; do
  if [ -n "${!var_name}" ] && ! grep -q "^${var_name}=" .env; then
    echo "${var_name}=${!var_name}" >> .env
  fi
done
echo "$PATH" > .path
"""

_RUNSVC = """#!/bin/bash
# The service's entry point in a real install (runs bin/RunnerService.js under node).
# On a lab host the supervisor's ticker plays this part; systemctl starts it.
echo "runsvc.sh is run by the lab's simulated systemd; use: sudo systemctl start $(cat .service)"
exit 1
"""


def listener_script(version: str, python: str, name: str = "Runner.Listener") -> str:
    commit = hashlib.sha1(version.encode()).hexdigest()[:8]  # noqa: S324 -- a label
    return _LISTENER.format(version=version, python=python, name=name, commit=commit)


def shim(name: str, python: str) -> str:
    return _SHIM.format(name=name, python=python)


def installed_version(runner_root: Path) -> str | None:
    """The version `bin/Runner.Listener --version` would print, or None when it is broken."""
    try:
        text = (runner_root / "bin" / "Runner.Listener").read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError):
        return None
    m = _VERSION.search(text)
    return m.group(1) if m else None


def unit_file_text(org: str, name: str, runner_root: Path, user: str) -> str:
    return (
        "[Unit]\n"
        f"Description=GitHub Actions Runner ({org}.{name})\n"
        "After=network.target\n\n"
        "[Service]\n"
        f"ExecStart={runner_root}/runsvc.sh\n"
        f"User={user}\n"
        f"WorkingDirectory={runner_root}\n"
        "KillMode=process\n"
        "KillSignal=SIGTERM\n"
        "TimeoutStopSec=5min\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)


def _sparse(path: Path, size: int, age_days: float = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)
    if age_days:
        stamp = time.time() - age_days * 86400
        os.utime(path, (stamp, stamp))


def write_registration(
    runner_root: Path, *, runner_id: int, name: str, github_url: str, pool_name: str = "Default"
) -> None:
    """`.runner`, `.credentials` and `.credentials_rsaparams`, as config.sh writes them."""
    tenant = secrets.token_hex(12)
    server = f"https://pipelinesghubeus{secrets.randbelow(30) + 1}.actions.githubusercontent.com/{tenant}/"  # noqa: E501
    runner = {
        "agentId": runner_id,
        "agentName": name,
        "poolId": 1,
        "poolName": pool_name,
        "serverUrl": server,
        "gitHubUrl": github_url,
        "workFolder": "_work",
    }
    _write(runner_root / ".runner", json.dumps(runner, indent=2) + "\n")
    credentials = {
        "scheme": "OAuth",
        "data": {
            "clientId": str(uuid.uuid4()),
            "authorizationUrl": f"{server}_apis/oauth2/token",
            "requireFipsCryptography": "True",
        },
    }
    _write(runner_root / ".credentials", json.dumps(credentials, indent=2) + "\n", 0o600)

    def b64(n: int) -> str:
        return base64.b64encode(secrets.token_bytes(n)).decode()

    rsa = {
        "d": b64(256),
        "dp": b64(128),
        "dq": b64(128),
        "exponent": "AQAB",
        "inverseQ": b64(128),
        "modulus": b64(256),
        "p": b64(128),
        "q": b64(128),
    }
    _write(runner_root / ".credentials_rsaparams", json.dumps(rsa) + "\n", 0o600)


def read_registration(runner_root: Path) -> dict[str, Any] | None:
    """The `.runner` file, or None when the runner is not configured (or it is unreadable)."""
    try:
        data = json.loads((runner_root / ".runner").read_text(encoding="utf-8-sig"))
    except (FileNotFoundError, ValueError, IsADirectoryError):
        return None
    return data if isinstance(data, dict) else None


def install_runner_files(root: Path, version: str, python: str) -> None:
    """The package's part of the install: scripts and binaries (a release tarball's content)."""
    for name in ("config.sh", "run.sh"):
        _write(root / name, shim(name, python), 0o755)
    _write(root / "env.sh", _ENV_SH, 0o755)
    _write(root / "runsvc.sh", _RUNSVC, 0o755)
    _write(root / "bin" / "Runner.Listener", listener_script(version, python), 0o755)
    _write(root / "bin" / "Runner.Worker", listener_script(version, python, "Runner.Worker"), 0o755)
    _write(root / "bin" / "svc.sh.template", shim("svc.sh", python), 0o644)


def create_runner_root(
    host: RunnerHost,
    *,
    runner_id: int,
    name: str,
    org: str,
    github_url: str,
    version: str,
    python: str,
    unit: str,
    user: str,
) -> None:
    """A configured runner with its service installed, and the leftovers of past jobs."""
    root = host.runner_root
    install_runner_files(root, version, python)
    _write(root / "svc.sh", shim("svc.sh", python), 0o755)
    write_registration(root, runner_id=runner_id, name=name, github_url=github_url)
    _write(root / ".env", "LANG=C.UTF-8\n")
    _write(root / ".path", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
    _write(root / ".service", unit + "\n")
    (root / "_diag").mkdir(parents=True, exist_ok=True)
    # Worker logs of jobs from more than a week ago: what the log cleanup deletes.
    for days in (11, 9):
        past = time.time() - days * 86400
        old = root / "_diag" / f"Worker_{diag_file_stamp(past)}-utc.log"
        _write(old, f"[{runner_utc(past)} INFO Worker] Version: {version}\n")
        os.utime(old, (past, past))
    work = root / "_work"
    _sparse(work / "_tool" / "node" / "20.11.1" / "x64" / "bin" / "node", 96_500_000, 12)
    _sparse(work / "_tool" / "Python" / "3.12.3" / "x64.tar", 310_000_000, 12)
    _write(
        work / "_actions" / "actions" / "checkout" / "v4" / "action.yml",
        "name: Checkout\nruns:\n  using: node20\n  main: dist/index.js\n",
    )
    _sparse(work / "_actions" / "actions" / "checkout" / "v4" / "dist" / "index.js", 1_400_000, 3)
    _write(work / "app" / "app" / "README.md", "# app\n")
    _sparse(work / "app" / "app" / "node_modules" / ".cache" / "bundle.bin", 420_000_000, 1)
    (work / "_temp").mkdir(parents=True, exist_ok=True)
    fs = host.fs
    (fs / "tmp").mkdir(parents=True, exist_ok=True)
    (fs / "var" / "lib" / "docker").mkdir(parents=True, exist_ok=True)
    (fs / "var" / "run").mkdir(parents=True, exist_ok=True)
    (fs / "proc").mkdir(parents=True, exist_ok=True)
    _write(
        fs / "etc" / "resolv.conf",
        "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n"
        "# Do not edit.\n#\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n",
    )
    _write(fs / "etc" / "hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n")
    _write(fs / "etc" / "docker" / "daemon.json", '{\n  "log-driver": "journald"\n}\n')
    _write(fs / "etc" / "systemd" / "system" / unit, unit_file_text(org, name, root, user))


def build_release(version: str, arch: str, python: str, owner: tuple[int, int, str]) -> bytes:
    """`actions-runner-linux-ARCH-VERSION.tar.gz` for the lab: the package's files, gzipped.

    Entries carry `owner` (uid, gid, name) so that unpacking as root leaves the same owner
    as the rest of the lab's files.
    """
    uid, gid, uname = owner
    files = {
        "./config.sh": (shim("config.sh", python), 0o755),
        "./run.sh": (shim("run.sh", python), 0o755),
        "./env.sh": (_ENV_SH, 0o755),
        "./bin/Runner.Listener": (listener_script(version, python), 0o755),
        "./bin/Runner.Worker": (listener_script(version, python, "Runner.Worker"), 0o755),
        "./bin/svc.sh.template": (shim("svc.sh", python), 0o644),
        "./bin/runsvc.sh": (_RUNSVC, 0o755),
    }
    buf = io.BytesIO()
    mtime = time.time()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for folder in ("./", "./bin/"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o755, uid, gid, uname, uname
            info.mtime = mtime
            tar.addfile(info)
        for name, (text, mode) in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, mtime
            info.uid, info.gid, info.uname, info.gname = uid, gid, uname, uname
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
