"""node_exporter for every lab host, from one HTTP server: GET /hosts/NAME/metrics.

Names, labels and types are node_exporter 1.5's (filesystem, memory, cpu, load, systemd
unit state, time), computed from the host's state, so the project's PromQL templates and
alert rules run unchanged. Prometheus adds `instance` and `runner` per target.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from lab.host import resources
from lab.host.state import CPUS, HostError, RunnerHost

# Units node_exporter's systemd collector reports here (its --collector.systemd.unit-include).
UNITS = (
    "docker.service",
    "containerd.service",
    "systemd-resolved.service",
    "systemd-timesyncd.service",
)
UNIT_STATES = ("activating", "active", "deactivating", "failed", "inactive")


def _labels(**labels: str) -> str:
    def escape(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}" if labels else ""


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, metric: str, value: float, /, **labels: str) -> None:
        self.lines.append(f"{metric}{_labels(**labels)} {_num(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def host_metrics(host: RunnerHost) -> str:
    """One scrape of the host: node_exporter's text format."""
    state = host.read()
    now = time.time()
    e = _Exposition()
    systems = resources.filesystems(host, state)
    gauges = (
        ("node_filesystem_size_bytes", "Filesystem size in bytes.", lambda f: f["size"]),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            lambda f: max(0, f["size"] - f["used"]),
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            lambda f: max(0, f["size"] - f["used"]),
        ),
        ("node_filesystem_files", "Filesystem total file nodes.", lambda f: f["inodes"]),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            lambda f: max(0, f["inodes"] - f["iused"]),
        ),
        ("node_filesystem_readonly", "Filesystem read-only status.", lambda f: 0),
        (
            "node_filesystem_device_error",
            "Whether an error occurred while getting statistics for the given device.",
            lambda f: 0,
        ),
    )
    for name, help_text, value in gauges:
        e.family(name, "gauge", help_text)
        for f in systems:
            if f["fstype"] == "devtmpfs":
                continue
            e.sample(name, value(f), device=f["source"], fstype=f["fstype"], mountpoint=f["target"])
    m = resources.memory(state)
    for name, value in (
        ("MemTotal", m.total),
        ("MemFree", m.free),
        ("MemAvailable", m.available),
        ("Buffers", m.cache // 20),
        ("Cached", m.cache - m.cache // 20),
        ("Shmem", m.shared),
        ("SwapTotal", 0),
        ("SwapFree", 0),
    ):
        metric = f"node_memory_{name}_bytes"
        e.family(metric, "gauge", f"Memory information field {name}_bytes.")
        e.sample(metric, value)
    counters = resources.cpu_counters(state, now)
    e.family("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.")
    for cpu in range(CPUS):
        for mode in ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"):
            e.sample(
                "node_cpu_seconds_total", round(counters[mode] / CPUS, 2), cpu=str(cpu), mode=mode
            )
    load = resources.load1(state)
    for name, value in (
        ("node_load1", load),
        ("node_load5", load * 0.8),
        ("node_load15", load * 0.6),
    ):
        e.family(name, "gauge", f"{name[5:]}m load average.")
        e.sample(name, round(value, 2))
    e.family("node_systemd_unit_state", "gauge", "Systemd unit")
    names = [state.get("runner_unit"), *UNITS]
    for unit_name in names:
        unit = state["units"].get(unit_name or "")
        if unit is None:
            continue
        for s in UNIT_STATES:
            e.sample(
                "node_systemd_unit_state",
                1 if unit["state"] == s else 0,
                name=unit_name,
                state=s,
                type=unit["type"],
            )
    host_now = host.now(state)
    e.family("node_time_seconds", "gauge", "System time in seconds since epoch (1970).")
    e.sample("node_time_seconds", round(host_now, 3))
    timesyncd_active = state["units"]["systemd-timesyncd.service"]["state"] == "active"
    offset = float(state["clock"]["offset"]) if timesyncd_active else 0.0
    e.family(
        "node_timex_offset_seconds",
        "gauge",
        "Time offset in between local system and reference clock.",
    )
    e.sample("node_timex_offset_seconds", round(offset, 6))
    e.family(
        "node_timex_sync_status",
        "gauge",
        "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
    )
    e.sample("node_timex_sync_status", 1 if state["clock"]["synced"] else 0)
    e.family("node_boot_time_seconds", "gauge", "Node boot time, in unixtime.")
    e.sample("node_boot_time_seconds", round(state["boot_time"], 0))
    e.family(
        "node_uname_info",
        "gauge",
        "Labeled system information as provided by the uname system call.",
    )
    e.sample(
        "node_uname_info",
        1,
        domainname="(none)",
        machine="x86_64",
        nodename=state["name"],
        release="6.1.0-28-cloud-amd64",
        sysname="Linux",
        version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)",
    )
    return e.text()


class HostMetricsServer:
    """Serves `/hosts/NAME/metrics` for every host in `hosts` (which may grow while it runs)."""

    def __init__(self, hosts: Mapping[str, RunnerHost], host: str = "127.0.0.1", port: int = 0):
        self.hosts = hosts
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path.strip("/").split("/")
                status, body, ctype = 404, b"404 page not found\n", "text/plain; charset=utf-8"
                if len(path) == 3 and path[0] == "hosts" and path[2] == "metrics":
                    target = server.hosts.get(path[1])
                    if target is not None:
                        try:
                            body = host_metrics(target).encode()
                            status, ctype = 200, "text/plain; version=0.0.4; charset=utf-8"
                        except (HostError, OSError, ValueError) as e:
                            status, body = 500, f"cannot read the host: {e}\n".encode()
                elif path == [""]:
                    links = "".join(
                        f'<a href="/hosts/{n}/metrics">{n}</a><br>\n' for n in sorted(server.hosts)
                    )
                    status, body, ctype = 200, links.encode(), "text/html; charset=utf-8"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HostMetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
