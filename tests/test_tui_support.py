"""What the terminal UI tests share: a small fleet in GitHub's shape, an app wired to real
clients, a node_exporter-like metrics server for a real Prometheus, and screen readers.

No tests here; the test_tui_* modules import it.
"""

from __future__ import annotations

import http.server
import io
import threading
import time
from collections.abc import Callable, Iterable

import httpx
from rich.console import Console

from lab.services import start_prometheus
from tui.app import RunnerdocApp
from tui.config import GitHubScope, Secret, Settings
from tui.log_source import LogSource
from tui.sources.alertmanager import AlertmanagerClient
from tui.sources.fleet import Clients, FleetCollector
from tui.sources.github import GitHubClient, Scope
from tui.sources.prometheus import PrometheusClient

TOKEN = "ghp_tuiTestToken_" + "x" * 30
FIXED_NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: snapshots never depend on the hour


def gh_runner(
    id_: int,
    name: str,
    status: str = "online",
    busy: bool = False,
    labels: Iterable[str] = ("pool-a",),
    version: str | None = "2.330.0",
) -> dict:
    """A runner as GitHub's API shows it."""
    return {
        "id": id_, "name": name, "os": "Linux", "status": status, "busy": busy,
        "labels": [{"id": 1, "name": "self-hosted", "type": "read-only"},
                   {"id": 2, "name": "Linux", "type": "read-only"}]
        + [{"id": 100 + i, "name": n, "type": "custom"} for i, n in enumerate(labels)],
        "version": version,
    }  # fmt: skip


FLEET = [
    gh_runner(1, "build-01"),
    gh_runner(2, "build-02", busy=True),
    gh_runner(3, "build-03", status="offline"),
    gh_runner(4, "build-04", status="offline", busy=True),
    gh_runner(5, "gpu-01", labels=("pool-gpu", "gpu"), version="2.319.1"),
    gh_runner(6, "gpu-02", busy=True, labels=("pool-gpu", "gpu")),
]


def settings_for(github_url: str, **changes) -> Settings:
    values = {
        "github_api_url": github_url,
        "scope": GitHubScope("org", "acme"),
        "refresh_seconds": 3600.0,  # tests refresh by hand unless they say otherwise
        "_token": Secret(TOKEN),
    }
    values.update(changes)
    return Settings(**values)


def make_app(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    live: bool = True,
    log_source: LogSource | None = None,
    prometheus=None,
    alertmanager=None,
) -> RunnerdocApp:
    """The app with real clients; `prometheus`/`alertmanager` override the settings' clients."""
    github = GitHubClient(
        settings.github_api_url, lambda: TOKEN, Scope("org", "acme"), max_retries=0, clock=clock
    )
    clients = Clients(
        github=github,
        prometheus=prometheus
        or (PrometheusClient(settings.prometheus_url, timeout=3) if settings.prometheus_url
            else None),
        alertmanager=alertmanager
        or (AlertmanagerClient(settings.alertmanager_url, timeout=3) if settings.alertmanager_url
            else None),
    )  # fmt: skip
    collector = FleetCollector(clients, host_label=settings.host_label, clock=clock)
    return RunnerdocApp(
        settings, collector=collector, clock=clock, live=live, log_source=log_source, env={}
    )


def fleet_shown(app: RunnerdocApp) -> bool:
    """The first snapshot is in and the fleet table drew it (a cursor moved before that
    would be reset by the first draw)."""
    return app.snapshot is not None and getattr(app.screen, "last_change", "none") != "none"


async def wait_for(pilot, predicate: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


def screen_text(app: RunnerdocApp) -> str:
    """The screen as plain text, as the terminal would show it."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False,
                      safe_box=False)  # fmt: skip
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


def table_names(app: RunnerdocApp) -> list[str]:
    """Runner names in the fleet table, top to bottom."""
    from tui.widgets.fleet_table import FleetTable

    table = app.screen.query_one(FleetTable)
    return [table.get_row(key)[1].plain.strip() for key in table.order if key.startswith("r")]


# ----- host metrics for a real Prometheus ----------------------------------------------


class NodeMetrics:
    """A node_exporter stand-in: per-runner filesystem, memory and CPU series on a real socket.

    `hosts` maps runner name -> (disk used ratio, memory used ratio); values can change.
    """

    def __init__(self, hosts: dict[str, tuple[float, float]]):
        self.hosts = dict(hosts)
        self.started = time.time()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = owner.text().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.server_port}"

    def instance(self, runner: str) -> str:
        return f"10.0.0.{list(self.hosts).index(runner) + 1}:9100"

    def text(self) -> str:
        lines = []
        elapsed = time.time() - self.started
        for name, (disk, mem) in self.hosts.items():
            inst = f'instance="{self.instance(name)}",runner="{name}"'
            fs = f'{inst},device="/dev/vda1",fstype="ext4",mountpoint="/"'
            unit = f"actions.runner.acme.{name}.service"
            lines += [
                f"node_filesystem_avail_bytes{{{fs}}} {(1 - disk) * 100e9}",
                f"node_filesystem_size_bytes{{{fs}}} 100e9",
                f"node_filesystem_files_free{{{fs}}} 500000",
                f"node_filesystem_files{{{fs}}} 1000000",
                f"node_memory_MemAvailable_bytes{{{inst}}} {(1 - mem) * 16e9}",
                f"node_memory_MemTotal_bytes{{{inst}}} 16e9",
                # Half the CPU time idle: 50% busy.
                f'node_cpu_seconds_total{{{inst},cpu="0",mode="idle"}} {1000 + elapsed * 0.5}',
                f'node_cpu_seconds_total{{{inst},cpu="0",mode="user"}} {100 + elapsed * 0.5}',
                f"node_load1{{{inst}}} 0.5",
                f'node_systemd_unit_state{{{inst},name="{unit}",state="active",type="simple"}} 1',
                f"node_timex_offset_seconds{{{inst}}} 0.001",
                f"node_time_seconds{{{inst}}} {time.time()}",
            ]
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_metrics_prometheus(folder, metrics: NodeMetrics):
    """A real Prometheus scraping `metrics` every second, once it has two scrapes (for rate)."""
    config = f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: node
    honor_labels: true
    static_configs: [{{targets: ["{metrics.target}"]}}]
"""
    service = start_prometheus(folder, config)
    deadline = time.monotonic() + 30
    query = "count(rate(node_cpu_seconds_total[1m]))"
    while time.monotonic() < deadline:
        r = httpx.get(service.url + "/api/v1/query", params={"query": query})
        if r.json()["data"]["result"]:
            break
        time.sleep(0.3)
    return service
