"""The lab's life: `lab up` from a fleet file, status, SSH host keys, jobs, and `lab down`.

One real lab for the module (two runners from a fleet file, jobs every few seconds).
The last test stops it and checks that not one of its processes is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab import processes
from tui.config import load_settings

FLEET = [
    {"name": "build-x64-01", "labels": ["self-hosted", "Linux", "X64", "pool-a", "big"]},
    {"name": "build-arm-01", "labels": ["self-hosted", "Linux", "ARM64", "pool-b"]},
]


class Lab:
    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder = folder
        self.env = env

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tui.cli", "lab", *args],
            env=self.env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip

    @property
    def state(self) -> dict[str, Any]:
        return json.loads((self.folder / "lab.json").read_text())

    @property
    def config(self) -> dict[str, Any]:
        return tomllib.loads((self.folder / "config.toml").read_text())

    def ssh(
        self, runner: str, command: str, known_hosts: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        config = self.config
        host, port = config["ssh"]["hosts"][runner].split(":")
        known = known_hosts or Path(config["ssh"]["known_hosts"])
        return subprocess.run(
            ["ssh", "-F", "/dev/null", "-i", config["ssh"]["identity_file"],
             "-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes",
             "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-p", port,
             f"{config['ssh']['user']}@{host}", command],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp("lablife")
    fleet = folder.parent / "fleet.json"
    fleet.write_text(json.dumps(FLEET))
    env = {**os.environ, "RUNNERDOC_LAB_DIR": str(folder)}
    env.pop("GITHUB_TOKEN", None)
    the_lab = Lab(folder, env)
    up = the_lab.cli("up", "--fleet", str(fleet), "--job-interval", "3")
    assert up.returncode == 0, up.stderr + (folder / "supervisor.log").read_text()
    assert "lab running in" in up.stdout
    for name in ("github", "prometheus", "alertmanager", "pushgateway", "loki", "exporter"):
        assert f"  {name} " in up.stdout, up.stdout
    try:
        yield the_lab
    finally:
        the_lab.cli("down")


def test_up_again_shows_the_running_lab(lab: Lab) -> None:
    before = lab.state["supervisor"]
    again = lab.cli("up", "--runners", "7")
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert "build-x64-01" in again.stdout and "127.0.0.1:" in again.stdout
    assert lab.state["supervisor"] == before


def test_status_json_lists_services_and_runners(lab: Lab) -> None:
    result = lab.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["state"] == "running"
    assert set(report["services"]) >= {"github", "prometheus", "alertmanager", "pushgateway",
                                       "loki", "exporter", "sink", "metrics"}  # fmt: skip
    for name, service in report["services"].items():
        assert service["url"].startswith("http://127.0.0.1:"), name
        assert service["state"] == "up", (name, service)
    assert [r["name"] for r in report["runners"]] == [f["name"] for f in FLEET]
    for runner in report["runners"]:
        assert runner["ssh"].startswith("127.0.0.1:")
        assert runner["sshd"] == "up" and runner["service"] == "active"
        assert runner["github"] == "online"
        assert Path(runner["runner_root"]).is_relative_to(lab.folder)


def test_config_is_private_and_runnerdoc_reads_it(lab: Lab) -> None:
    path = lab.folder / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = load_settings(path, env={})
    assert settings.scope is not None and settings.scope.api_path == "orgs/acme"
    assert settings.token_provider()().reveal().startswith("ghp_")
    assert set(settings.ssh.hosts) == {f["name"] for f in FLEET}
    assert settings.ssh.identity_file and settings.ssh.identity_file.exists()
    for name, root in settings.runner_roots.items():
        assert (Path(root) / ".runner").is_file(), name
    assert httpx.get(f"{settings.prometheus_url}/-/ready", timeout=5).status_code == 200


def test_fleet_labels_reach_github(lab: Lab) -> None:
    config = lab.config
    answer = httpx.get(
        f"{config['github']['api_url']}/orgs/acme/actions/runners",
        headers={"Authorization": f"Bearer {config['github']['token']}"},
        timeout=10,
    ).json()
    labels = {r["name"]: {x["name"] for x in r["labels"]} for r in answer["runners"]}
    assert {"pool-a", "big", "self-hosted"} <= labels["build-x64-01"]


def test_ssh_checks_the_host_key(lab: Lab, tmp_path: Path) -> None:
    ok = lab.ssh("build-x64-01", "hostname && whoami")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == "build-x64-01"
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    refused = lab.ssh("build-x64-01", "hostname", known_hosts=empty)
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr
    # The other host's key under this host's address: a changed key, also refused.
    config = lab.config
    port_a = config["ssh"]["hosts"]["build-x64-01"].split(":")[1]
    port_b = config["ssh"]["hosts"]["build-arm-01"].split(":")[1]
    lines = Path(config["ssh"]["known_hosts"]).read_text().splitlines()
    other = next(x for x in lines if x.startswith(f"[127.0.0.1]:{port_b} "))
    wrong = tmp_path / "wrong_hosts"
    wrong.write_text(other.replace(f":{port_b} ", f":{port_a} ", 1) + "\n")
    changed = lab.ssh("build-x64-01", "hostname", known_hosts=wrong)
    assert changed.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in changed.stderr


def test_services_listen_on_loopback_only(lab: Lab) -> None:
    pids = [lab.state["supervisor"]["pid"]]
    pids += [s["pid"] for s in lab.state["services"].values() if s["kind"] == "process"]
    pids += [r["sshd"]["pid"] for r in lab.state["runners"]]
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd) if fd.is_symlink() else ""
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                listening.append(fields[1])
    assert listening, "no listening socket found for the lab's processes"
    loopback = {"0100007F"}  # 127.0.0.1, as /proc/net/tcp writes it
    for address in listening:
        assert address.split(":")[0] in loopback, f"a lab socket listens on {address}"


def test_runners_take_jobs(lab: Lab) -> None:
    config = lab.config
    token = config["github"]["token"]
    api = config["github"]["api_url"]
    seen_busy = False
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not seen_busy:
        headers = {"Authorization": f"Bearer {token}"}
        runners = httpx.get(f"{api}/orgs/acme/actions/runners", headers=headers, timeout=5).json()
        seen_busy = any(r["busy"] for r in runners["runners"])
        time.sleep(0.3)
    assert seen_busy, "no runner was ever busy with a job"
    journal = lab.ssh("build-x64-01", "sudo -n journalctl -o cat --no-pager | grep -E "
                      "'Running job|completed with result' || true").stdout  # fmt: skip
    journal += lab.ssh("build-arm-01", "sudo -n journalctl -o cat --no-pager | grep -E "
                       "'Running job|completed with result' || true").stdout  # fmt: skip
    assert "Running job: " in journal
    state = httpx.get(f"{api}/_sim/state", timeout=5).json()
    assert any(j["runner_name"] in {f["name"] for f in FLEET} for j in state["jobs"])


def _members(group: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            if int(raw[raw.rfind(")") + 2 :].split()[2]) == group:
                found.append(int(entry.name))
    return found


def test_down_leaves_no_process(lab: Lab) -> None:
    state = lab.state
    recorded = [(state["supervisor"]["pid"], state["supervisor"]["start"])]
    recorded += [(s["pid"], s["start"]) for s in state["services"].values()
                 if s["kind"] == "process"]  # fmt: skip
    recorded += [(r["sshd"]["pid"], r["sshd"]["start"]) for r in state["runners"]]
    # An SSH session still open when the lab stops must end too.
    session = subprocess.Popen(
        [*lab.ssh("build-x64-01", "true").args[:-1], "sleep 300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)
    marked = processes.marked(lab.folder)
    assert marked, "the open SSH session carries the lab's marker"
    groups = {os.getpgid(pid) for pid, _ in recorded if processes.alive(pid, None)}
    assert all(processes.alive(pid, start) for pid, start in recorded)
    down = lab.cli("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "no process of it is left" in down.stdout
    session.wait(30)
    for pid, start in recorded:
        assert not processes.alive(pid, start), f"process {pid} of the lab survived lab down"
    for pid in marked:
        assert not processes.alive(pid, None) or processes.is_zombie(pid)
    assert processes.marked(lab.folder) == []
    # No live process is left in any of the lab's process groups (a zombie waits for init).
    assert [
        pid for group in groups for pid in _members(group) if not processes.is_zombie(pid)
    ] == []
    assert not (lab.folder / "config.toml").exists()
    status = lab.cli("status", "--json")
    assert status.returncode == 1
    assert json.loads(status.stdout)["state"] == "stopped"


def test_a_lab_whose_folder_is_removed_stops_itself(tmp_path: Path) -> None:
    # `rm -rf` of a running lab's folder must not leave a supervisor, Prometheus and
    # sshds running on as orphans no command can reach.
    folder = tmp_path / "lab"
    env = {**os.environ, "RUNNERDOC_LAB_DIR": str(folder)}
    env.pop("GITHUB_TOKEN", None)
    up = Lab(folder, env).cli("up", "--runners", "1")
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads((folder / "lab.json").read_text())
    recorded = [(state["supervisor"]["pid"], state["supervisor"]["start"])]
    recorded += [(s["pid"], s["start"]) for s in state["services"].values()
                 if s["kind"] == "process"]  # fmt: skip
    recorded += [(r["sshd"]["pid"], r["sshd"]["start"]) for r in state["runners"]]
    assert all(processes.alive(pid, start) for pid, start in recorded)
    shutil.rmtree(folder)
    deadline = time.monotonic() + 60
    try:
        while any(processes.alive(pid, start) for pid, start in recorded):
            assert time.monotonic() < deadline, [p for p, s in recorded if processes.alive(p, s)]
            time.sleep(0.5)
    finally:
        for pid, start in recorded:  # whatever failed, nothing of it outlives the test
            if processes.alive(pid, start):
                os.kill(pid, signal.SIGKILL)
