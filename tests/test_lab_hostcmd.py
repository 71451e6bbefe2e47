"""A lab host without the rest of the lab: its simulated commands and its runner service.

The commands run the way an SSH session runs them (bash, the lab's shims first on PATH)
as an operator account that is not root, so sudo matters; the runner service is ticked
by hand against a stand-in for GitHub.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.host import RunnerHost, units
from lab.host.provision import provision_host
from lab.host.runner_service import START_DELAY, RunnerService
from lab.host.timefmt import parse_systemd_time
from lab.hostcmd.paths import SYSTEM_PATH
from lab.metrics import host_metrics
from lab.sshd import write_command_shims

UNIT = "actions.runner.acme.runner-01.service"


class GitHub:
    """What the runner service sees of GitHub; tests change it."""

    def __init__(self) -> None:
        self.exists = True
        self.refused: set[str] = set()
        self.reports: list[dict] = []

    def runner_exists(self, runner_id: int) -> bool:
        return self.exists

    def version_refused(self, version: str) -> bool:
        return version in self.refused

    def report(self, runner_id: int, *, online: bool, busy: bool, version: str | None) -> None:
        self.reports.append({"online": online, "busy": busy, "version": version})

    def start_job(self, runner_id: int, repo: str, name: str) -> int | None:
        return 1

    def finish_job(self, job_id: int, conclusion: str) -> None:
        pass


class Host:
    def __init__(self, folder: Path):
        lab = folder
        write_command_shims(lab / "bin", os.environ.get("PYTHON", _python()))
        self.host = provision_host(
            lab / "hosts" / "runner-01", name="runner-01", org="acme", runner_id=7,
            version="2.330.0", github_url="http://github.localhost:1/acme",
            github_api_url="http://127.0.0.1:1", python=_python(), login_user="operator",
            login_uid=1000, login_gid=1000, job_interval=0,
        )  # fmt: skip
        self.github = GitHub()
        self.service = RunnerService(self.host, self.github, seed=1)
        self.env = {
            "PATH": f"{lab / 'bin'}:{SYSTEM_PATH}",
            "RUNNERDOC_LAB_HOST_DIR": str(self.host.folder),
            "RUNNERDOC_LAB_DIR": str(lab),
            "RUNNERDOC_LAB_USER": "operator",
            "RUNNERDOC_LAB_PYTHON": _python(),
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
            "HOME": str(self.host.home / "operator"),
            "TZ": "UTC",
            "LANG": "C.UTF-8",
        }

    @property
    def root(self) -> Path:
        return self.host.runner_root

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", command], env=self.env, capture_output=True,
                              text=True, timeout=60, cwd=self.env["HOME"])  # fmt: skip

    def connect(self) -> None:
        """Tick the runner service until its listener has had time to connect."""
        self.service.tick()
        time.sleep(START_DELAY + 0.05)
        self.service.tick()


def _python() -> str:
    import sys

    return sys.executable


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    yield Host(tmp_path)


def test_systemd_timestamps_parse_as_journalctl_reads_them() -> None:
    now = 1714557600.0  # 2024-05-01 10:00:00 UTC
    assert parse_systemd_time("Wed 2024-05-01 09:00:00 UTC", now) == now - 3600
    assert parse_systemd_time("-30min", now) == now - 1800
    assert parse_systemd_time("2 days ago", now) == now - 2 * 86400
    assert parse_systemd_time("1 hour ago", now) == now - 3600
    assert parse_systemd_time("today", now) == now - 10 * 3600
    with pytest.raises(ValueError, match="Failed to parse timestamp"):
        parse_systemd_time("whenever", now)


def test_the_service_connects_and_the_journal_says_so(host: Host) -> None:
    host.connect()
    journal = host.run(f"sudo -n journalctl -u {UNIT} -o cat --no-pager")
    assert journal.returncode == 0, journal.stderr
    lines = journal.stdout.splitlines()
    assert "√ Connected to GitHub" in lines
    assert "Current runner version: '2.330.0'" in lines
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ: Listening for Jobs$", journal.stdout, re.M)
    assert host.github.reports[-1] == {"online": True, "busy": False, "version": "2.330.0"}
    diag = next(host.root.glob("_diag/Runner_*-utc.log")).read_text()
    assert re.search(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ INFO Terminal\] WRITE LINE: Listening "
                     "for Jobs$", diag, re.M)  # fmt: skip


def test_changing_a_unit_needs_sudo(host: Host) -> None:
    denied = host.run(f"systemctl restart {UNIT}")
    assert denied.returncode == 1
    assert f"Failed to restart {UNIT}: Interactive authentication required." in denied.stderr
    done = host.run(f"sudo -n systemctl restart {UNIT} && systemctl is-active {UNIT}")
    assert done.returncode == 0 and done.stdout == "active\n"
    status = host.run(f"systemctl status {UNIT} --no-pager")
    assert status.returncode == 0
    assert re.search(r"Active: active \(running\) since \w{3} \d{4}-\d\d-\d\d", status.stdout)


def test_unknown_units_answer_as_systemd_does(host: Host) -> None:
    active = host.run("systemctl is-active chrony.service")
    assert (active.returncode, active.stdout) == (3, "inactive\n")
    status = host.run("systemctl status chrony.service --no-pager")
    assert status.returncode == 4
    assert "Unit chrony.service could not be found." in status.stderr
    enabled = host.run("systemctl is-enabled --quiet chrony.service")
    assert (enabled.returncode, enabled.stdout, enabled.stderr) == (1, "", "")


def test_journal_since_the_unit_started(host: Host) -> None:
    host.connect()
    time.sleep(1.1)  # the next start falls in a later second
    assert host.run(f"sudo -n systemctl restart {UNIT}").returncode == 0
    since = host.run(
        f'unit={UNIT}; sudo -n journalctl -u "$unit" --since "$(systemctl show -p '
        'ActiveEnterTimestamp --value "$unit")" --no-pager -o cat'
    )
    assert since.returncode == 0, since.stderr
    assert "Started running service" in since.stdout
    assert "Listening for Jobs" not in since.stdout  # that was the previous start
    host.connect()
    again = host.run(
        f'unit={UNIT}; sudo -n journalctl _SYSTEMD_INVOCATION_ID="$(systemctl show -p '
        'InvocationID --value "$unit")" --no-pager -o cat'
    )
    assert "Listening for Jobs" in again.stdout
    assert again.stdout.count("Started running service") == 1


def test_the_disk_counts_apparent_sizes(host: Host) -> None:
    before = host.run(f"df --output=pcent,ipcent,target {host.root}")
    assert before.returncode == 0
    used = int(re.search(r"(\d+)%", before.stdout.splitlines()[1]).group(1))
    assert used < 30
    filled = host.run(f"truncate -s 75G {host.root}/_work/_temp/big && df -h {host.root}")
    assert re.search(r"\s(9[0-9]|100)%\s", filled.stdout), filled.stdout
    usage = host.run(f"sudo -n du -xh --max-depth=1 {host.root}/_work")
    assert re.search(rf"^7[5-6]G\t{re.escape(str(host.root))}/_work/_temp$", usage.stdout, re.M)
    host.run(f"rm {host.root}/_work/_temp/big")
    after = host.run(f"df --output=pcent,ipcent,target {host.root}")
    assert after.stdout == before.stdout


def test_system_paths_stay_inside_the_host(host: Host) -> None:
    name = f"lab-host-test-{os.getpid()}"
    written = host.run(f"printf hello | tee /tmp/{name} >/dev/null && cat /tmp/{name}")
    assert written.stdout == "hello"
    assert (host.host.fs / "tmp" / name).read_text() == "hello"
    assert not Path(f"/tmp/{name}").exists()
    resolv = host.run("cat /etc/resolv.conf")
    assert "nameserver 127.0.0.53" in resolv.stdout
    sock = host.run("ls -l /var/run/docker.sock")
    assert re.match(r"srw-rw---- 1 root docker 0 ", sock.stdout)


def test_docker_checks_the_socket_and_the_daemon(host: Host) -> None:
    denied = host.run("docker ps")
    assert denied.returncode == 1
    assert "permission denied while trying to connect to the Docker daemon socket" in denied.stderr
    assert host.run("sudo -n -u runner docker ps").stdout.startswith("CONTAINER ID")
    assert host.run("sudo -n gpasswd -d runner docker").returncode == 0
    assert "docker" not in host.run("id runner").stdout
    assert host.run("sudo -n -u runner docker ps").returncode == 1
    assert host.run("sudo -n usermod -aG docker runner && id runner").stdout.endswith(
        "999(docker)\n"
    )
    with host.host.locked() as state:
        units.crash_docker(host.host, state)
    down = host.run("sudo -n docker info")
    assert down.returncode == 1
    assert ("ERROR: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the "
            "docker daemon running?") in down.stderr  # fmt: skip
    refused = host.run("sudo -n systemctl start docker.service")
    assert refused.returncode == 1 and "Job for docker.service failed." in refused.stderr
    started = host.run("sudo -n systemctl reset-failed docker.service && sudo -n systemctl "
                       "start docker.service && systemctl is-active docker.service")  # fmt: skip
    assert started.stdout == "active\n"


def test_without_dns_no_name_resolves(host: Host) -> None:
    assert host.run("getent hosts github.com").returncode == 0
    assert host.run("sudo -n systemctl stop systemd-resolved").returncode == 0
    assert host.run("getent hosts github.com api.github.com").returncode == 2
    dig = host.run("dig +time=3 +tries=1 api.github.com")
    assert dig.returncode == 9 and ";; no servers could be reached" in dig.stdout
    curl = host.run("curl -sS http://api.github.localhost:1/")
    assert curl.returncode == 6
    assert curl.stderr == "curl: (6) Could not resolve host: api.github.localhost\n"
    assert host.run("getent hosts localhost").returncode == 0


def test_the_listener_refuses_what_github_refuses(host: Host) -> None:
    host.connect()
    host.github.exists = False
    host.service.tick()
    journal = host.run(f"sudo -n journalctl -u {UNIT} -o cat -n 3 --no-pager").stdout
    assert "The runner registration has been deleted from the server, please re-configure" in (
        journal
    )
    assert "Runner listener exit with terminated error, stop the service, no retry needed." in (
        journal
    )
    assert host.run(f"systemctl is-active {UNIT}").stdout == "inactive\n"
    host.github.exists = True
    host.github.refused.add("2.330.0")
    host.run(f"sudo -n systemctl start {UNIT}")
    host.connect()
    journal = host.run(f"sudo -n journalctl -u {UNIT} -o cat -n 3 --no-pager").stdout
    assert "An error occurred: Runner version v2.330.0 is deprecated and cannot receive " in journal
    host.github.refused.clear()
    (host.root / ".runner").unlink()
    host.run(f"sudo -n systemctl start {UNIT}")
    host.connect()
    journal = host.run(f"sudo -n journalctl -u {UNIT} -o cat -n 3 --no-pager").stdout
    assert "Not configured. Run config.(sh/cmd) to configure the runner." in journal
    assert host.github.reports[-1]["online"] is False


def test_runner_scripts_check_who_runs_them(host: Host) -> None:
    as_root = host.run(f"cd {host.root} && sudo -n ./config.sh --url x --token y")
    assert (as_root.returncode, as_root.stdout) == (1, "Must not run with sudo\n")
    svc = host.run(f"cd {host.root} && ./svc.sh status")
    assert (svc.returncode, svc.stdout) == (1, "Must run as sudo\n")
    assert host.run(f"{host.root}/bin/Runner.Listener --version").stdout == "2.330.0\n"
    owned = host.run(f"find {host.root} -maxdepth 2 -path {host.root}/_work -prune -o "
                     "! -user runner -print")  # fmt: skip
    assert (owned.returncode, owned.stdout) == (0, "")


def test_the_clock_offset_shows_in_date_and_timedatectl(host: Host) -> None:
    with host.host.locked() as state:
        state["clock"].update(offset=400.0, synced=False)
    seconds = int(host.run("date -u +%s").stdout)
    assert 395 <= seconds - time.time() <= 405
    assert host.run("date -u -d @0 +%s").stdout == "0\n"
    show = host.run("timedatectl show -p NTP -p NTPSynchronized")
    assert show.stdout == "NTP=yes\nNTPSynchronized=no\n"
    assert "System clock synchronized: no" in host.run("timedatectl").stdout
    metrics = {s.name: s.value for f in text_string_to_metric_families(host_metrics(host.host))
               for s in f.samples}  # fmt: skip
    assert 395 <= metrics["node_time_seconds"] - time.time() <= 405


def test_sudo_can_ask_for_a_password(host: Host) -> None:
    with host.host.locked() as state:
        state["sudo_password"] = True
    denied = host.run("sudo -n systemctl restart docker.service")
    assert (denied.returncode, denied.stderr) == (1, "sudo: a password is required\n")


def test_ps_selects_and_formats_like_procps(host: Host) -> None:
    workers = host.run("ps -o pid,user,etime,args -C Runner.Worker")
    assert (workers.returncode, workers.stdout) == (1, "    PID USER         ELAPSED COMMAND\n")
    top = host.run("ps -eo pid,user,rss,etime,comm --sort=-rss | head -n 3")
    lines = top.stdout.splitlines()
    assert lines[0].split() == ["PID", "USER", "RSS", "ELAPSED", "COMMAND"]
    rss = [int(line.split()[2]) for line in lines[1:]]
    assert rss == sorted(rss, reverse=True)


def test_metrics_carry_node_exporter_names(host: Host) -> None:
    host.connect()
    families = {f.name: f for f in text_string_to_metric_families(host_metrics(host.host))}
    for name in ("node_filesystem_avail_bytes", "node_filesystem_size_bytes",
                 "node_filesystem_files_free", "node_memory_MemAvailable_bytes",
                 "node_cpu_seconds", "node_load1", "node_systemd_unit_state",
                 "node_time_seconds", "node_timex_offset_seconds"):  # fmt: skip
        assert name in families, name
    root = [s for s in families["node_filesystem_avail_bytes"].samples
            if s.labels["mountpoint"] == "/"]  # fmt: skip
    assert root[0].labels == {"device": "/dev/nvme0n1p1", "fstype": "ext4", "mountpoint": "/"}
    states = {(s.labels["name"], s.labels["state"]): s.value
              for s in families["node_systemd_unit_state"].samples}  # fmt: skip
    assert states[(UNIT, "active")] == 1 and states[("docker.service", "active")] == 1
    cpus = {s.labels["cpu"] for s in families["node_cpu_seconds"].samples}
    assert cpus == {"0", "1", "2", "3"}
    assert RunnerHost(host.host.folder).read()["listener"]["phase"] == "listening"
