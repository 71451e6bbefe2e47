"""`runnerdoc metrics push|delete` against the real Pushgateway, scraped by a real Prometheus
(honor_labels: true): the `deployment-success` template returns what was pushed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lab.services import start_prometheus, start_pushgateway
from tui.pipeline.deployment_metrics import Deployment, PushError, push_deployment
from tui.queries import load_templates

RUNNERDOC = str(Path(sys.executable).with_name("runnerdoc"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    service = start_pushgateway(tmp_path_factory.mktemp("pushgateway"))
    yield service
    service.stop()


def metrics(*args: str, cwd: Path, env: dict | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    base.pop("RUNNERDOC_CONFIG", None)
    base["XDG_CONFIG_HOME"] = str(cwd)
    return subprocess.run(
        [RUNNERDOC, "metrics", *args], capture_output=True, text=True, cwd=cwd, timeout=60,
        env={**base, **(env or {})},
    )  # fmt: skip


def gateway_series(gateway) -> str:
    return httpx.get(gateway.url + "/metrics", timeout=5).text


def test_push_replaces_the_group_and_delete_removes_it(gateway, tmp_path):
    env = {"GITHUB_REPOSITORY": "acme/api", "GITHUB_SHA": "0123456789abcdef"}
    first = metrics("push", "--pushgateway", gateway.url, "--environment", "production",
                    "--outcome", "success", "--duration", "95", cwd=tmp_path, env=env)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "pushed: acme/api production 0123456789ab success in 95 s" in first.stdout
    text = gateway_series(gateway)
    line = (
        'runnerdoc_deployment_success{environment="production",instance="",'
        'job="runnerdoc_deployments",repository="acme/api",version="0123456789ab"} 1'
    )
    assert line in text
    assert 'runnerdoc_deployment_duration_seconds{environment="production"' in text

    started = str(time.time() - 42)
    second = metrics("push", "--pushgateway", gateway.url, "--environment", "production",
                     "--outcome", "failure", "--version", "v1.5.0", "--started-at", started,
                     cwd=tmp_path, env=env)  # fmt: skip
    assert second.returncode == 0, second.stderr
    text = gateway_series(gateway)
    # PUT: the old version's series are gone, not left beside the new one.
    assert 'version="0123456789ab"' not in text
    assert 'repository="acme/api",version="v1.5.0"} 0' in text

    deleted = metrics("delete", "--pushgateway", gateway.url, "--environment", "production",
                      cwd=tmp_path, env=env)  # fmt: skip
    assert deleted.returncode == 0
    assert "runnerdoc_deployment_success{" not in gateway_series(gateway)


def test_pushed_results_answer_the_deployment_success_template(gateway, tmp_path):
    for repo, env, outcome in (
        ("acme/api", "production", "success"),
        ("acme/web", "production", "failure"),
        ("acme/api", "staging", "cancelled"),
    ):
        push_deployment(gateway.url, Deployment(repo, env, "v2", outcome, 30.0, time.time()))
    config = (
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: pushgateway\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['{gateway.url.removeprefix('http://')}']}}]\n"
    )
    prom = start_prometheus(tmp_path / "prom", config)
    try:
        query = load_templates()["deployment-success"].render({})
        deadline = time.monotonic() + 30
        result: list = []
        while time.monotonic() < deadline and len(result) < 3:
            answer = httpx.get(prom.url + "/api/v1/query", params={"query": query}, timeout=5)
            result = answer.json()["data"]["result"]
            time.sleep(0.5)
        got = {
            (r["metric"]["repository"], r["metric"]["environment"], r["metric"]["version"]):
            float(r["value"][1])
            for r in result
        }  # fmt: skip
        assert got == {
            ("acme/api", "production", "v2"): 1.0,
            ("acme/web", "production", "v2"): 0.0,
            ("acme/api", "staging", "v2"): 0.0,
        }
        failing = load_templates()["deployment-success"].render({"environment": "production"})
        answer = httpx.get(prom.url + "/api/v1/query", params={"query": failing + " < 1"})
        (only,) = answer.json()["data"]["result"]
        assert only["metric"]["repository"] == "acme/web"
    finally:
        prom.stop()


def test_an_unreachable_gateway_is_reported_after_retries(tmp_path):
    waits: list[float] = []
    d = Deployment("acme/api", "production", "v1", "success", 1.0, time.time())
    with pytest.raises(PushError, match=r"cannot reach the Pushgateway .*\(tried 3 times\)"):
        push_deployment("http://127.0.0.1:9", d, sleep=waits.append, timeout=2)
    assert waits == [0.5, 1.0]
    out = metrics("push", "--pushgateway", "http://127.0.0.1:9", "--environment", "prod",
                  "--outcome", "success", "--duration", "1", "--repository", "acme/api",
                  "--version", "v1", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 1 and "cannot reach the Pushgateway" in out.stderr


def test_missing_facts_are_usage_errors(tmp_path):
    out = metrics("push", "--pushgateway", "http://127.0.0.1:9", "--environment", "prod",
                  "--outcome", "success", "--repository", "acme/api", "--version", "v1",
                  cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2 and "--duration SECONDS or --started-at" in out.stderr
    out = metrics("push", "--environment", "prod", "--outcome", "success", "--duration", "1",
                  "--repository", "acme/api", "--version", "v1", cwd=tmp_path)  # fmt: skip
    assert out.returncode == 2 and "where is the Pushgateway" in out.stderr
