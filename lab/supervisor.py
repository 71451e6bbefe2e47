"""The lab's supervisor: runs every part of a lab and stops them all again.

`runnerdoc lab up` starts it as `python -m lab.supervisor LABDIR` in a session of its own.
In threads it runs the GitHub simulator, the Loki stand-in, the notification sink, the
hosts' metrics endpoint and the ticker that moves every host's runner service on and
ships its logs. As child processes it runs one OpenSSH sshd per host, Prometheus,
Alertmanager, the Pushgateway and the runnerdoc exporter. When everything answers it
writes lab.json (state "running", URLs, PIDs); on SIGTERM it stops its children, marks
lab.json "stopped" and exits.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import httpx
import yaml

from lab import github_sim, services
from lab.config import LabLayout, LabPlan, write_lab_state, write_runnerdoc_config
from lab.host.files import RELEASED_VERSIONS, build_release
from lab.host.provision import provision_host
from lab.host.runner_service import RunnerService
from lab.host.state import RunnerHost
from lab.hostcmd.network import write_github_certificate
from lab.log_shipper import LogShipper
from lab.loki_sim import LokiSimulator
from lab.metrics import HostMetricsServer
from lab.monitoring_config import install_rules, lab_alertmanager, prometheus_config
from lab.processes import MARKER, start_time
from lab.sink import NotificationSink
from lab.sshd import (
    new_keypair,
    prepare_host_sshd,
    sshd_argv,
    write_client_files,
    write_command_shims,
    write_login_script,
)

log = logging.getLogger("lab.supervisor")
TICK_SECONDS = 0.5


class SimulatorView:
    """The runner services' window on the GitHub simulator (same process, no HTTP)."""

    def __init__(self, sim: github_sim.GitHubSimulator):
        self.sim = sim
        self.finished = 0

    def runner_exists(self, runner_id: int) -> bool:
        try:
            self.sim.runner(runner_id)
        except KeyError:
            return False
        return True

    def version_refused(self, version: str) -> bool:
        return bool(version) and self.sim.version_refused(version)

    def report(self, runner_id: int, *, online: bool, busy: bool, version: str | None) -> None:
        try:
            record = self.sim.runner(runner_id)
        except KeyError:
            return
        changes: dict[str, Any] = {}
        status = "online" if online else "offline"
        if record["status"] != status:
            changes["status"] = status
        if record["busy"] != busy:
            changes["busy"] = busy
        if version and record["version"] != version:
            changes["version"] = version
        if changes:
            with contextlib.suppress(KeyError):
                self.sim.update_runner(runner_id, **changes)

    def start_job(self, runner_id: int, repo: str, name: str) -> int | None:
        try:
            labels = [label["name"] for label in self.sim.runner(runner_id)["labels"]]
        except KeyError:
            return None
        job = self.sim.add_queued_job(repo, labels, name=name, workflow="CI")
        self.sim.update_job(job["id"], status="in_progress", runner_id=runner_id)
        return int(job["id"])

    def finish_job(self, job_id: int, conclusion: str) -> None:
        with contextlib.suppress(KeyError):
            self.sim.update_job(job_id, status="completed", conclusion=conclusion)
        self.finished += 1
        if self.finished % 100 == 0:
            # Keep listing runs cheap in a lab that runs for days.
            self.sim.forget_finished_runs(keep=200)


def _wait_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.05)
    return False


class Supervisor:
    def __init__(self, layout: LabLayout):
        self.layout = layout
        self.plan = LabPlan.load(layout.plan_json)
        self.stop_event = threading.Event()
        self.hosts: dict[str, RunnerHost] = {}
        self.runner_services: list[RunnerService] = []
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.managed: dict[str, services.Service] = {}
        self.threads: list[Any] = []
        self.warnings: list[str] = []
        self.state: dict[str, Any] = {}

    # ----- building -------------------------------------------------------------------------

    def build(self) -> None:
        started = time.monotonic()
        layout, plan = self.layout, self.plan
        os.environ[MARKER] = str(layout.root)
        for name in ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_SERVER_URL", "RUNNERDOC_CONFIG"):
            os.environ.pop(name, None)
        self.state = {
            "state": "starting",
            "folder": str(layout.root),
            "org": plan.org,
            "started_at": time.time(),
            "supervisor": self._record(os.getpid()),
            "services": {},
            "runners": [],
            "warnings": self.warnings,
        }
        write_lab_state(layout, self.state)

        sim = github_sim.GitHubSimulator(org=plan.org, token=plan.token).start()
        self.sim = sim
        self.threads.append(sim)
        cache: dict[tuple[str, str], bytes] = {}
        owner = (os.getuid(), os.getgid(), plan.login_user)

        def release(version: str, arch: str) -> bytes | None:
            if version not in RELEASED_VERSIONS:
                return None
            if (version, arch) not in cache:
                cache[(version, arch)] = build_release(version, arch, plan.python, owner)
            return cache[(version, arch)]

        sim.release_provider = release
        loki = LokiSimulator().start()
        self.loki = loki
        self.threads.append(loki)
        layout.sink_file.parent.mkdir(parents=True, exist_ok=True)
        sink = NotificationSink(layout.sink_file).start()
        self.threads.append(sink)
        metrics = HostMetricsServer(self.hosts).start()
        self.threads.append(metrics)
        self._service("github", sim.url)
        self._service("loki", loki.url)
        self._service("sink", sink.url)
        self._service("metrics", metrics.url)

        ports = {
            name: services.free_port()
            for name in ("prometheus", "alertmanager", "pushgateway", "exporter")
        }
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        names = [r.name for r in plan.runners]
        promtool = None
        with contextlib.suppress(services.ServiceError):
            promtool = services.binary("promtool")
        self.rules, notes = install_rules(layout.service("prometheus") / "rules", promtool)
        self.warnings.extend(notes)
        prometheus_text = prometheus_config(
            metrics_url=metrics.url,
            hosts=names,
            exporter=urls["exporter"] if plan.exporter else None,
            pushgateway=urls["pushgateway"],
            alertmanager=urls["alertmanager"],
        )
        am_config, am_notes = lab_alertmanager(sink.url)
        self.warnings.extend(am_notes)
        am_text = yaml.safe_dump(am_config, sort_keys=False)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
        futures = {
            "pushgateway": pool.submit(
                services.start_pushgateway, layout.service("pushgateway"), ports["pushgateway"]
            ),
            "alertmanager": pool.submit(
                services.start_alertmanager,
                layout.service("alertmanager"),
                am_text,
                ports["alertmanager"],
            ),
            "prometheus": pool.submit(
                services.start_prometheus,
                layout.service("prometheus"),
                prometheus_text,
                ports["prometheus"],
            ),
        }

        # The hosts, their keys and their sshds.
        write_command_shims(layout.bin, plan.python)
        write_github_certificate(layout.tls)
        client_public = new_keypair(layout.ssh / "id_ed25519", "runnerdoc-lab")
        (layout.ssh / "authorized_keys").write_text(client_public + "\n")
        known: list[str] = []
        ssh_ports: dict[str, int] = {}
        # Names under .localhost: curl resolves them to 127.0.0.1 by itself (RFC 6761), and
        # a lab host whose DNS is broken refuses them, as a real host refuses github.com.
        gh_port = sim.port
        api_url = f"http://api.github.localhost:{gh_port}"
        web_url = f"http://github.localhost:{gh_port}"
        github_url = f"{web_url}/{plan.org}"
        for runner in plan.runners:
            record = sim.add_runner(
                name=runner.name,
                status="offline",
                busy=False,
                version=github_sim.CURRENT_RUNNER_VERSION,
                labels=["self-hosted", "Linux", "X64", *runner.labels],
            )
            host = provision_host(
                layout.host(runner.name),
                name=runner.name,
                org=plan.org,
                runner_id=record["id"],
                version=github_sim.CURRENT_RUNNER_VERSION,
                github_url=github_url,
                github_api_url=sim.url,
                python=plan.python,
                login_user=plan.login_user,
                login_uid=plan.login_uid,
                login_gid=plan.login_gid,
                job_interval=plan.job_interval,
            )
            port = services.free_port()
            known.append(prepare_host_sshd(host, port, layout, plan.login_user))
            write_login_script(host, layout, plan.python, plan.login_user)
            ssh_ports[runner.name] = port
            self.hosts[runner.name] = host
            self.runner_services.append(RunnerService(host, SimulatorView(sim)))
        write_client_files(layout, plan.login_user, ssh_ports, known)
        if os.geteuid() == 0:
            # sshd's privilege separation needs this folder when it runs as root.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sshd = services.binary("sshd")
        for name, host in self.hosts.items():
            argv = sshd_argv(host)
            argv[0] = sshd
            self.children[f"sshd:{name}"] = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        runbook_parameters = {
            "runner_user": "runner",
            "github_url": github_url,
            "runner_url": github_url,
            "github_api_url": api_url,
            "github_scope": f"orgs/{plan.org}",
            "releases_api_url": api_url,
            "releases_url": f"{web_url}/actions/runner/releases/download",
            "actions_health_url": f"http://pipelines.actions.localhost:{gh_port}/_apis/health",
            "github_status_url": f"http://www.githubstatus.localhost:{gh_port}/api/v2/status.json",
            "pushgateway_url": urls["pushgateway"],
            "repository": f"{plan.org}/{plan.repos[0]}",
        }
        if plan.exporter:
            runbook_parameters["exporter_url"] = urls["exporter"]
        write_runnerdoc_config(
            layout,
            github_api_url=sim.url,
            org=plan.org,
            token=plan.token,
            repos=plan.repos,
            prometheus_url=urls["prometheus"],
            alertmanager_url=urls["alertmanager"],
            loki_url=loki.url,
            ssh_user=plan.login_user,
            ssh_hosts={n: f"127.0.0.1:{p}" for n, p in ssh_ports.items()},
            runner_roots={n: str(h.runner_root) for n, h in self.hosts.items()},
            exporter_url=urls["exporter"] if plan.exporter else None,
            pushgateway_url=urls["pushgateway"],
            sink_url=sink.url,
            runbook_parameters=runbook_parameters,
        )
        if plan.exporter:
            exporter_dir = layout.service("exporter")
            exporter_dir.mkdir(parents=True, exist_ok=True)
            with (exporter_dir / "exporter.log").open("ab") as out:
                self.children["exporter"] = subprocess.Popen(
                    [
                        plan.python,
                        "-m",
                        "tui.cli",
                        "exporter",
                        "--config",
                        str(layout.config_toml),
                        "--listen",
                        f"127.0.0.1:{ports['exporter']}",
                        "--interval",
                        "5",
                        "--budget-share",
                        "0.5",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=exporter_dir,
                )

        for name, future in futures.items():
            service = future.result()
            self.managed[name] = service
            self._service(name, service.url, service.pid)
        pool.shutdown()
        deadline = time.monotonic() + 20 + len(self.hosts) * 0.2
        runners = []
        for name, host in self.hosts.items():
            child = self.children[f"sshd:{name}"]
            if not _wait_port(ssh_ports[name], deadline):
                tail = (host.sshd_dir / "sshd.log").read_text(errors="replace")[-400:]
                raise RuntimeError(f"sshd of {name} did not listen on {ssh_ports[name]}: {tail}")
            runners.append(
                {
                    "name": name,
                    "ssh": f"127.0.0.1:{ssh_ports[name]}",
                    "ssh_port": ssh_ports[name],
                    "runner_root": str(host.runner_root),
                    "labels": next(r.labels for r in plan.runners if r.name == name),
                    "host_dir": str(host.folder),
                    "metrics_url": f"{metrics.url}/hosts/{name}/metrics",
                    "sshd": self._record(child.pid),
                }
            )
        self.state["runners"] = runners
        if plan.exporter:
            self._wait_exporter(urls["exporter"], deadline)
            self._service("exporter", urls["exporter"], self.children["exporter"].pid)
        # Connect every runner before saying "running": up then shows a healthy fleet.
        self.tick()
        time.sleep(1.05)
        self.tick()
        self.state.update(state="running", ready_seconds=round(time.monotonic() - started, 2))
        write_lab_state(layout, self.state)
        log.info("lab running in %.1f s", time.monotonic() - started)

    def _wait_exporter(self, url: str, deadline: float) -> None:
        child = self.children["exporter"]
        while time.monotonic() < deadline:
            if child.poll() is not None:
                tail = (self.layout.service("exporter") / "exporter.log").read_text()[-500:]
                raise RuntimeError(f"the runnerdoc exporter exited: {tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/metrics", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the runnerdoc exporter did not answer on {url}/metrics")

    def _record(self, pid: int) -> dict[str, Any]:
        return {"pid": pid, "start": start_time(pid)}

    def _service(self, name: str, url: str, pid: int | None = None) -> None:
        entry = {"url": url, **self._record(pid or os.getpid())}
        entry["kind"] = "process" if pid else "thread"
        self.state["services"][name] = entry
        write_lab_state(self.layout, self.state)

    # ----- running --------------------------------------------------------------------------

    def tick(self) -> None:
        for service in self.runner_services:
            try:
                service.tick()
            except Exception:
                log.exception("runner service of %s", service.host.name)
        try:
            self.shipper.tick()
        except Exception:
            log.exception("log shipping")

    def run(self) -> None:
        last_check = time.monotonic()
        while not self.stop_event.is_set():
            began = time.monotonic()
            self.tick()
            if began - last_check > 5:
                last_check = began
                self._check_children()
                if not self.layout.root.is_dir():
                    # Removed under a running lab: nothing can be recorded or reached any
                    # more, so stop the services rather than run on as orphans.
                    log.warning("the lab folder %s is gone: stopping", self.layout.root)
                    return
            self.stop_event.wait(max(0.05, TICK_SECONDS - (time.monotonic() - began)))

    def _check_children(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                log.warning("%s exited with %s", name, child.returncode)

    # ----- stopping -------------------------------------------------------------------------

    def shutdown(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        for service in self.managed.values():
            with contextlib.suppress(Exception):
                service.stop(timeout=5)
        for child in self.children.values():
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(2)
        for thread in reversed(self.threads):
            with contextlib.suppress(Exception):
                thread.stop()

    @property
    def shipper(self) -> LogShipper:
        if not hasattr(self, "_shipper"):
            self._shipper = LogShipper(self.hosts, self.loki.store)
        return self._shipper


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.stderr.write("usage: python -m lab.supervisor LABDIR\n")
        return 2
    layout = LabLayout(Path(argv[0]).resolve())
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    supervisor = Supervisor(layout)
    signal.signal(signal.SIGTERM, lambda *_: supervisor.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: supervisor.stop_event.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    code = 0
    try:
        supervisor.build()
        supervisor.run()
    except Exception as e:
        log.error("the lab failed to start: %s\n%s", e, traceback.format_exc())
        supervisor.state.update(state="failed", error=str(e))
        code = 1
    finally:
        supervisor.shutdown()
        if supervisor.state.get("state") != "failed":
            supervisor.state["state"] = "stopped"
        supervisor.state["stopped_at"] = time.time()
        if layout.root.is_dir():
            write_lab_state(layout, supervisor.state)
    return code


if __name__ == "__main__":
    sys.exit(main())
