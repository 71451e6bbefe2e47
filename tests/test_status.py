"""`runnerdoc status` and the fleet collector against the GitHub simulator and real Prometheus."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from lab.github_sim import GitHubSimulator
from tui.cli import main
from tui.model import RunnerState
from tui.sources.fleet import Clients, FleetCollector
from tui.sources.github import GitHubClient, Scope

TOKEN = "ghp_statusTestToken_" + "x" * 30


def runner(id_: int, name: str, status: str, busy: bool, labels=("pool-a",)) -> dict:
    return {
        "id": id_, "name": name, "os": "Linux", "status": status, "busy": busy,
        "labels": [{"id": 1, "name": "self-hosted", "type": "read-only"}]
        + [{"id": 100 + i, "name": n, "type": "custom"} for i, n in enumerate(labels)],
        "version": "2.320.0",
    }  # fmt: skip


@pytest.fixture
def sim():
    fleet = [
        runner(1, "runner-01", "online", False),
        runner(2, "runner-02", "online", True, ("pool-b", "gpu")),
        runner(3, "runner-03", "offline", False),
        runner(4, "runner-04", "offline", True),
        runner(5, "runner-\x1b[2Jevil\u202e", "online", False),
    ]
    with GitHubSimulator(org="acme", token=TOKEN, runners=fleet) as s:
        yield s


def write_config(tmp_path, sim, extra: str = "") -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[github]\norg = "acme"\napi_url = "{sim.url}"\n{extra}')
    cfg.chmod(0o600)
    return str(cfg)


def test_status_json_lists_every_runner_with_its_state(sim, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert main(["status", "--json", "--config", write_config(tmp_path, sim)]) == 0
    out = json.loads(capsys.readouterr().out)
    states = {r["name"]: r["state"] for r in out["runners"]}
    assert states["runner-01"] == "idle" and states["runner-02"] == "active"
    assert states["runner-03"] == "offline" and states["runner-04"] == "orphan"
    assert {r["pool"] for r in out["runners"]} == {"pool-a", "pool-b"}
    assert out["rate_limit"]["remaining"] < out["rate_limit"]["limit"]
    assert TOKEN not in json.dumps(out)


def test_status_table_is_safe_to_print(sim, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert main(["status", "--config", write_config(tmp_path, sim)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["RUNNER", "STATE", "POOL"]
    assert "\x1b" not in out and "\u202e" not in out
    assert re.search(r"^runner-04 +orphan +pool-a +2\.320\.0 ", out, re.M)
    assert re.search(r"^runner-evil +idle ", out, re.M)  # escape and RTL override removed


def test_status_fails_when_github_cannot_be_read(sim, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "wrong-token")
    assert main(["status", "--config", write_config(tmp_path, sim)]) == 1
    err = capsys.readouterr().err
    assert "github" in err and "wrong-token" not in err


def test_status_without_scope_says_what_to_give(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text("")
    assert main(["status", "--config", str(cfg)]) == 2
    assert "--org ORG" in capsys.readouterr().err


def test_failing_source_keeps_last_good_data_marked_stale(sim):
    async def run():
        gh = GitHubClient(sim.url, lambda: TOKEN, Scope("org", "acme"), max_retries=0)
        clock = [1000.0]
        collector = FleetCollector(Clients(github=gh), clock=lambda: clock[0])
        first = await collector.refresh()
        sim.inject_5xx(count=None)
        clock[0] = 1030.0
        second = await collector.refresh()
        sim.clear_faults()
        clock[0] = 1060.0
        third = await collector.refresh()
        await gh.aclose()
        return first, second, third

    first, second, third = asyncio.run(run())
    assert len(first.rows) == 5 and first.source("github").ok
    status = second.source("github")
    assert not status.ok and status.stale and status.age(1030.0) == 30.0
    assert status.failing_since == 1030.0 and status.error
    assert [r.name for r in second.rows] == [r.name for r in first.rows]
    assert third.source("github").ok and third.source("github").failing_since is None
    assert first.counts()["pool-a"][RunnerState.ORPHAN] == 1


def test_queued_jobs_of_the_configured_repositories_are_counted(sim, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    sim.add_queued_job("acme/app", ["self-hosted", "pool-a"], age_seconds=120)
    sim.add_queued_job("acme/app", ["self-hosted", "gpu"], age_seconds=30)
    sim.add_queued_job("acme/other", ["self-hosted"], age_seconds=30)
    cfg = write_config(tmp_path, sim, 'queued_repos = ["acme/app"]\n')
    assert main(["status", "--json", "--config", cfg]) == 0
    assert json.loads(capsys.readouterr().out)["queued_jobs"] == 2
    assert main(["status", "--json", "--config", write_config(tmp_path, sim)]) == 0
    assert json.loads(capsys.readouterr().out)["queued_jobs"] is None  # not asked: unknown
