"""Prometheus, Alertmanager and Loki sources against real Prometheus and Alertmanager
(started from Debian's packages) and the Loki stand-in."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from lab.loki_sim import LokiSimulator
from lab.services import start_alertmanager, start_prometheus
from tui.queries import load_templates
from tui.sources.alertmanager import AlertmanagerClient, AlertmanagerUnavailable
from tui.sources.loki import LokiClient, LokiQueryRejected, LokiUnavailable
from tui.sources.prometheus import PrometheusClient, PrometheusQueryRejected, PrometheusUnavailable

HOSTS = {
    # runner -> (disk avail bytes of 100 GB, mem available of 16 GB, unit active, clock offset)
    "runner-01": (60e9, 8e9, 1, 0.002),
    "runner-02": (1e9, 0.5e9, 0, -3.5),
    "runner-03": (30e9, 12e9, 1, 0.0),
}


def node_metrics() -> str:
    """Text exposition in node_exporter's names and labels for the three hosts."""
    lines = []
    for i, (runner, (avail, mem, active, offset)) in enumerate(HOSTS.items()):
        inst = f'instance="10.0.0.{i + 1}:9100",runner="{runner}"'
        fs = f'{inst},device="/dev/vda1",fstype="ext4",mountpoint="/"'
        unit = "actions.runner.acme." + runner + ".service"
        lines += [
            f"node_filesystem_avail_bytes{{{fs}}} {avail}",
            f"node_filesystem_size_bytes{{{fs}}} 100e9",
            f"node_filesystem_files_free{{{fs}}} 500000",
            f"node_filesystem_files{{{fs}}} 1000000",
            f"node_memory_MemAvailable_bytes{{{inst}}} {mem}",
            f"node_memory_MemTotal_bytes{{{inst}}} 16e9",
            f'node_cpu_seconds_total{{{inst},cpu="0",mode="idle"}} {1000 + time.time() % 1000}',
            f'node_cpu_seconds_total{{{inst},cpu="0",mode="user"}} 100',
            f"node_load1{{{inst}}} 0.5",
            f'node_systemd_unit_state{{{inst},name="{unit}",state="active",type="simple"}} '
            f"{active}",
            f'node_systemd_unit_state{{{inst},name="{unit}",state="failed",type="simple"}} '
            f"{1 - active}",
            f"node_timex_offset_seconds{{{inst}}} {offset}",
            f"node_time_seconds{{{inst}}} {time.time() + offset}",
        ]
    return "\n".join(lines) + "\n"


class _Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = node_metrics().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    exporter = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    # The labels come from the target itself here (honor_labels), as a relabelled fleet would.
    config = f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: node
    honor_labels: true
    static_configs: [{{targets: ["127.0.0.1:{exporter.server_port}"]}}]
"""
    service = start_prometheus(tmp_path_factory.mktemp("prom"), config)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # two scrapes are needed before rate() has data
        r = httpx.get(service.url + "/api/v1/query", params={"query": "count(node_load1)"})
        if r.json()["data"]["result"] and time.monotonic() > deadline - 26:
            break
        time.sleep(0.5)
    yield service
    service.stop()
    exporter.shutdown()


def test_host_health_for_the_whole_fleet_in_a_handful_of_queries(prometheus):
    async def run():
        client = PrometheusClient(prometheus.url)
        health = await client.host_health(load_templates())
        await client.aclose()
        return health, client.queries_sent

    health, sent = asyncio.run(run())
    assert set(health) == set(HOSTS)
    assert sent <= 8  # one query per metric, for all hosts, never one per runner
    sick = health["runner-02"]
    assert sick.disk_used == pytest.approx(0.99)
    assert sick.memory_available == pytest.approx(0.5 / 16)
    assert sick.service_active is False
    assert sick.clock_offset == pytest.approx(3.5, abs=0.5)
    assert health["runner-01"].service_active is True
    assert health["runner-01"].disk_used == pytest.approx(0.4)
    assert sick.instance == "10.0.0.2:9100"


def test_range_query_for_charts(prometheus):
    async def run():
        client = PrometheusClient(prometheus.url)
        expr = load_templates()["host-disk-used-ratio"].render({})
        now = time.time()
        series = await client.query_range(expr, now - 60, now, 5)
        await client.aclose()
        return series

    series = asyncio.run(run())
    assert {s.labels["runner"] for s in series} == set(HOSTS)
    assert all(len(s.points) >= 1 for s in series)


def test_bad_query_and_unreachable_server_are_typed_one_line_errors(prometheus):
    async def run():
        client = PrometheusClient(prometheus.url)
        with pytest.raises(PrometheusQueryRejected) as rejected:
            await client.query("sum(")
        down = PrometheusClient("http://127.0.0.1:9")
        with pytest.raises(PrometheusUnavailable) as unavailable:
            await down.query("up")
        await client.aclose()
        await down.aclose()
        return str(rejected.value), str(unavailable.value)

    rejected, unavailable = asyncio.run(run())
    assert "bad_data" in rejected and "\n" not in rejected
    assert "unreachable" in unavailable


AM_CONFIG = """
route: {receiver: blackhole, group_wait: 1s}
receivers: [{name: blackhole}]
"""


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    service = start_alertmanager(tmp_path_factory.mktemp("am"), AM_CONFIG)
    yield service
    service.stop()


def test_firing_alerts_with_runbook_links_and_silences(alertmanager):
    hostile = "runner-\x1b]52;c;cHduZWQ=\x07evil"
    httpx.post(
        alertmanager.url + "/api/v2/alerts",
        json=[
            {
                "labels": {"alertname": "RunnerOffline", "severity": "critical",
                           "runner": "runner-02", "pool": "pool-a"},
                "annotations": {"summary": "runner-02 is offline",
                                "runbook_url": "http://docs/runbooks/runner-offline.html"},
            },
            {
                "labels": {"alertname": "HostDiskFull", "severity": "warning", "runner": hostile},
                "annotations": {"summary": "disk \x1b[2J full"},
            },
        ],
    ).raise_for_status()  # fmt: skip

    async def run():
        client = AlertmanagerClient(alertmanager.url)
        alerts = await client.alerts()
        silence = await client.create_silence(
            {"alertname": "HostDiskFull"}, duration=timedelta(hours=1),
            created_by="oncall", comment="cleaning up",
        )  # fmt: skip
        after = await client.alerts()
        await client.expire_silence(silence)
        await client.aclose()
        return alerts, silence, after

    alerts, silence, after = asyncio.run(run())
    offline = next(a for a in alerts if a.name == "RunnerOffline")
    assert offline.runner == "runner-02" and offline.severity == "critical"
    assert offline.runbook_id == "runner-offline"
    disk = next(a for a in alerts if a.name == "HostDiskFull")
    assert "\x1b" not in disk.summary and "\x1b" not in (disk.runner or "")
    assert silence
    assert [a.name for a in after] == ["RunnerOffline"]


def test_alertmanager_down_is_a_typed_error():
    async def run():
        client = AlertmanagerClient("http://127.0.0.1:9")
        try:
            await client.alerts()
        finally:
            await client.aclose()

    with pytest.raises(AlertmanagerUnavailable):
        asyncio.run(run())


@pytest.fixture
def loki():
    sim = LokiSimulator().start()
    yield sim
    sim.stop()


def push(loki_url: str, labels: dict, lines: list[tuple[float, str]]) -> None:
    body = {"streams": [{"stream": labels, "values": [[str(int(t * 1e9)), s] for t, s in lines]}]}
    assert httpx.post(loki_url + "/loki/api/v1/push", json=body).status_code == 204


def test_loki_log_lines_from_a_template_with_control_characters_stripped(loki):
    now = time.time()
    labels = {"job": "actions-runner", "host": "host-01", "runner": "runner-01",
              "source": "worker", "level": "err"}  # fmt: skip
    push(loki.url, labels, [
        (now - 30, "[2024-05-01 10:00:00Z ERR  JobRunner] System.IO.IOException: No space left on"
                   " device : '/home/runner/actions-runner/_work/_temp/x.sh'"),
        (now - 20, "\x1b]0;pwned\x07\x1b[31mRunner connect error: Name or service not known"),
        (now - 10, "[2024-05-01 10:00:05Z INFO Worker] Job completed."),
    ])  # fmt: skip
    push(loki.url, {**labels, "runner": "runner-02", "host": "host-02"},
         [(now - 5, "System.IO.IOException: No space left on device : '/tmp'")])  # fmt: skip
    templates = load_templates()

    async def run():
        client = LokiClient(loki.url)
        disk = await client.logs(
            templates["disk-full-lines"].render({"runner": "runner-01"}),
            start=now - 3600, end=now + 1,
        )  # fmt: skip
        connect = await client.logs(
            templates["runner-connect-errors"].render({}), start=now - 3600, end=now + 1
        )
        rate = await client.series(
            templates["runner-error-rate"].render({}), start=now - 60, end=now, step=10
        )
        await client.aclose()
        return disk, connect, rate

    disk, connect, rate = asyncio.run(run())
    assert len(disk) == 1  # runner-02's line is not selected
    assert disk[0].text.endswith("_work/_temp/x.sh'")
    assert dict(disk[0].labels)["runner"] == "runner-01" and disk[0].source == "worker"
    assert len(connect) == 1
    assert connect[0].text == "Runner connect error: Name or service not known"
    assert {s.labels["runner"] for s in rate} == {"runner-01", "runner-02"}


def test_loki_errors_are_plain_text_400_and_typed(loki):
    async def run():
        client = LokiClient(loki.url)
        with pytest.raises(LokiQueryRejected) as bad:
            await client.logs('{job="x"} |= ', start=0, end=time.time())
        with pytest.raises(LokiQueryRejected, match="empty-compatible"):
            await client.logs('{job=~".*"}', start=0, end=time.time())
        down = LokiClient("http://127.0.0.1:9")
        with pytest.raises(LokiUnavailable):
            await down.logs('{job="x"}', start=0, end=time.time())
        await client.aclose()
        await down.aclose()
        return str(bad.value)

    assert "parse error" in asyncio.run(run())


def test_loki_stand_in_answers_in_the_documented_shapes(loki):
    assert httpx.get(loki.url + "/ready").status_code == 200
    now = time.time()
    push(loki.url, {"job": "actions-runner", "host": "h"}, [(now - 1, "hello")])
    r = httpx.get(
        loki.url + "/loki/api/v1/query_range",
        params={"query": '{job="actions-runner"}', "start": int((now - 60) * 1e9)},
    )
    body = r.json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "streams"
    stream = body["data"]["result"][0]
    assert stream["stream"] == {"job": "actions-runner", "host": "h"}
    ns, line = stream["values"][0]
    assert isinstance(ns, str) and ns.isdigit() and line == "hello"
    bad = httpx.get(loki.url + "/loki/api/v1/query_range", params={"query": "{"})
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/plain")
    assert Path  # keeps the import used in type hints above
