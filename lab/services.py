"""Start the real monitoring programs from Debian's packages, on 127.0.0.1, each in its folder.

Debian installs Prometheus, Alertmanager and the Pushgateway but may not start them
(and the project never uses the system's instances): the lab and the tests run
their own, on free loopback ports, and stop them again.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "prometheus-pushgateway": "prometheus-pushgateway",
    "sshd": "openssh-server",
}


class ServiceError(RuntimeError):
    """A service could not be started; the message says what to do."""


def binary(name: str) -> str:
    """The path of a program from a Debian package, or an error naming the package."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        package = PACKAGES.get(name, name)
        raise ServiceError(
            f"{name} is not installed: apt-get install -y {package} (./dev setup does it as root)"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """One running program: its URL, process and log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int
    folder: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def _start(
    name: str, argv: list[str], folder: Path, port: int, ready_path: str, timeout: float = 30.0
) -> Service:
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=folder,
            start_new_session=True,  # Ctrl-C in the terminal is for runnerdoc, not for it
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    service = Service(name, url, process, log, port, folder)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-600:]
            raise ServiceError(f"{name} exited with {process.returncode}: {tail.strip()}")
        try:
            if httpx.get(url + ready_path, timeout=1.0).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    service.stop()
    raise ServiceError(f"{name} did not become ready on {url} within {timeout:.0f} s; see {log}")


def start_prometheus(
    folder: Path,
    config: str,
    port: int | None = None,
    *,
    extra_files: dict[str, str] | None = None,
) -> Service:
    """Prometheus with the given configuration text (rule files relative to `folder`)."""
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    for rel, text in (extra_files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    (folder / "prometheus.yml").write_text(config)
    argv = [
        binary("prometheus"),
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=2d",
    ]
    return _start("prometheus", argv, folder, port, "/-/ready")


def start_alertmanager(folder: Path, config: str, port: int | None = None) -> Service:
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alertmanager.yml").write_text(config)
    argv = [
        binary("prometheus-alertmanager"),
        f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        # Without this Alertmanager opens its cluster port on 0.0.0.0:9094.
        "--cluster.listen-address=",
    ]
    return _start("alertmanager", argv, folder, port, "/-/ready")


def start_pushgateway(folder: Path, port: int | None = None) -> Service:
    port = port or free_port()
    argv = [
        binary("prometheus-pushgateway"),
        f"--web.listen-address=127.0.0.1:{port}",
        f"--persistence.file={folder / 'pushgateway.data'}",
    ]
    return _start("pushgateway", argv, folder, port, "/-/ready")
