"""`runnerdoc exporter` against the GitHub simulator, scraped by a real Prometheus."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from lab.github_sim import GitHubSimulator
from lab.services import free_port, start_prometheus
from tui.exporter import RunnerExporter
from tui.sources.github import GitHubClient, Scope

TOKEN = "ghp_exporterTest_" + "y" * 30


def runner(id_: int, name: str, status: str, busy: bool, version: str = "2.320.0") -> dict:
    return {
        "id": id_, "name": name, "os": "Linux", "status": status, "busy": busy,
        "labels": [{"id": 1, "name": "self-hosted", "type": "read-only"},
                   {"id": 7, "name": "pool-a", "type": "custom"}],
        "version": version,
    }  # fmt: skip


def scrape(exporter: RunnerExporter) -> str:
    registry = CollectorRegistry()
    registry.register(exporter)
    return generate_latest(registry).decode()


def value(text: str, series: str) -> float | None:
    m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_metrics_follow_the_fleet_and_deleted_runners_disappear():
    fleet = [
        runner(1, "r1", "online", False),
        runner(2, "r2", "online", True),
        runner(3, "r3", "offline", True, version="2.300.0"),
    ]
    with GitHubSimulator(org="acme", token=TOKEN, runners=fleet) as sim:
        past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        sim.deprecate_version("2.300.0", past, past)
        sim.add_queued_job("acme/app", ["self-hosted", "pool-a"], age_seconds=600)

        async def run():
            client = GitHubClient(sim.url, lambda: TOKEN, Scope("org", "acme"))
            exporter = RunnerExporter(client, queued_repos=["acme/app"])
            assert await exporter.poll_once()
            first = scrape(exporter)
            used = sim.rate_limit_used
            assert await exporter.poll_once()  # nothing changed: conditional requests
            unchanged_cost = sim.rate_limit_used - used
            sim.remove_runner(2)
            assert await exporter.poll_once()
            second = scrape(exporter)
            sim.inject_5xx(count=None)
            client.max_retries = 0
            assert not await exporter.poll_once()
            third = scrape(exporter)
            await client.aclose()
            return first, unchanged_cost, second, third

        first, unchanged_cost, second, third = asyncio.run(run())
    pool = 'pool="pool-a"'
    assert value(first, f'runnerdoc_runner_online{{{pool},runner="r1",runner_id="1"}}') == 1
    assert value(first, f'runnerdoc_runner_busy{{{pool},runner="r3",runner_id="3"}}') == 1
    assert value(first, f'runnerdoc_runners{{{pool},state="orphan"}}') == 1
    assert value(first, f'runnerdoc_runners{{{pool},state="active"}}') == 1
    assert value(first, 'runnerdoc_runner_version_deprecated{runner="r3",version="2.300.0"}') == 1
    assert value(first, 'runnerdoc_runner_version_deprecated{runner="r1",version="2.320.0"}') == 0
    assert value(first, f'runnerdoc_queued_jobs{{{pool},repository="acme/app"}}') == 1
    oldest = value(first, f'runnerdoc_queued_job_oldest_seconds{{{pool},repository="acme/app"}}')
    assert oldest is not None and 590 <= oldest <= 700
    assert value(first, 'runnerdoc_github_rate_limit_remaining{resource="core"}') > 0
    assert unchanged_cost == 0  # 304s cost nothing, deprecations are cached
    assert 'runner="r2"' not in second
    assert value(second, f'runnerdoc_runners{{{pool},state="active"}}') == 0
    # A failed poll keeps the last data and counts the error.
    assert 'runner="r1"' in third
    assert value(third, 'runnerdoc_github_poll_errors_total{kind="GitHubUnavailable"}') == 1


def test_exporter_command_is_scraped_by_prometheus(tmp_path):
    fleet = [runner(i, f"runner-{i:02d}", "online", i % 2 == 0) for i in range(1, 6)]
    with GitHubSimulator(org="acme", token=TOKEN, runners=fleet) as sim:
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[github]\norg = "acme"\napi_url = "{sim.url}"\n')
        port = free_port()
        exe = Path(sys.executable).with_name("runnerdoc")
        proc = subprocess.Popen(
            [str(exe), "exporter", "--config", str(cfg), "--listen", f"127.0.0.1:{port}",
             "--interval", "1"],
            env={**os.environ, "GITHUB_TOKEN": TOKEN}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        prom = None
        try:
            config = (
                "global: {scrape_interval: 1s}\n"
                "scrape_configs:\n  - job_name: runnerdoc\n"
                f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
            )
            prom = start_prometheus(tmp_path / "prom", config)
            deadline = time.monotonic() + 30
            result: list = []
            while time.monotonic() < deadline and not result:
                r = httpx.get(
                    prom.url + "/api/v1/query",
                    params={"query": 'sum by (state) (runnerdoc_runners{pool="pool-a"})'},
                )
                result = r.json()["data"]["result"]
                time.sleep(0.5)
            states = {s["metric"]["state"]: float(s["value"][1]) for s in result}
            assert states == {"idle": 3.0, "active": 2.0, "offline": 0.0, "orphan": 0.0}
        finally:
            if prom:
                prom.stop()
            proc.terminate()
            out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0, out
        assert TOKEN not in out


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999"])
def test_exporter_refuses_a_bad_listen_address(listen, capsys):
    from tui.cli import main

    with pytest.raises(SystemExit) as e:
        main(["exporter", "--org", "acme", "--listen", listen])
    assert e.value.code == 2
    assert "must look like 127.0.0.1:9108" in capsys.readouterr().err


def test_budget_governor_stretches_the_interval_to_the_share():
    from tui.exporter import BudgetGovernor

    governor = BudgetGovernor(0.05)
    assert governor.next_interval(15, None, 5000) == 15  # nothing known yet
    assert governor.next_interval(15, 0, 5000) == 15  # nothing changed: poll freely
    g = BudgetGovernor(0.05)
    # 20 points a poll, 5% of 5000 = 250 points an hour, aimed 10% under: 225.
    assert g.next_interval(15, 20, 5000) == pytest.approx(20 * 3600 / 225)
    assert g.next_interval(15, 0, 5000) == pytest.approx(0.7 * 20 * 3600 / 225)  # relaxes
