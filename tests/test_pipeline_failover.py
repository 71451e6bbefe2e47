"""Automatic failover: the policy on a fake clock (no flapping), the controller against the
GitHub simulator, `failover watch` polling it, and `failover serve` fed by a real Alertmanager."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from lab.github_sim import GitHubSimulator
from lab.services import free_port, start_alertmanager
from lab.slack_sim import SlackSimulator
from tui.config import Secret, load_settings
from tui.pipeline.alert_receiver import serve
from tui.pipeline.failover import (
    FailoverController,
    failover_status,
    load_failover_config,
)
from tui.pipeline.failover_policy import (
    FailoverPolicy,
    FailoverState,
    Mode,
    PoolReading,
    Switch,
    decide,
    reading_of,
)
from tui.pipeline.slack import SlackWebhook
from tui.sources.github import GitHubClient, Scope

RUNNERDOC = str(Path(sys.executable).with_name("runnerdoc"))
TOKEN = "ghp_failoverTest_" + "f" * 30
FALLBACK = '["ubuntu-latest"]'


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def pool_runner(id_: int, status: str = "online", pool: str = "pool-a") -> dict:
    return {
        "id": id_, "name": f"{pool}-{id_}", "os": "Linux", "status": status, "busy": False,
        "labels": [{"id": 1, "name": "self-hosted", "type": "read-only"},
                   {"id": 9, "name": pool, "type": "custom"}],
        "version": "2.330.0",
    }  # fmt: skip


# ----- the policy -----------------------------------------------------------------------------


class Timeline:
    """Readings every `step` seconds on one clock; collects the switches."""

    def __init__(self, policy: FailoverPolicy, step: float) -> None:
        self.policy, self.step = policy, step
        self.state = FailoverState()
        self.now = 0.0
        self.switches: list[tuple[float, Switch]] = []

    def feed(self, counts: list[int]) -> list[Switch]:
        new = []
        for count in counts:
            decision = decide(self.state, reading_of(count, self.policy), self.now, self.policy)
            self.state = decision.state
            if decision.switch:
                self.switches.append((self.now, decision.switch))
                new.append(decision.switch)
            self.now += self.step
        return new


def test_the_pool_must_stay_short_for_the_configured_time():
    line = Timeline(FailoverPolicy(min_online=2, for_seconds=60, recover_seconds=120), step=10)
    assert line.feed([1] * 6) == []  # short at 0..50 s
    assert line.state.mode is Mode.PRIMARY and line.state.short_since == 0.0
    assert line.feed([1]) == [Switch.FAIL_OVER]  # at 60 s
    assert line.switches == [(60.0, Switch.FAIL_OVER)]
    # Back only after 120 s healthy in a row: healthy from 70 s, so at 190 s.
    assert line.feed([2] * 12) == []
    assert line.feed([2]) == [Switch.FAIL_BACK]
    assert line.switches[-1] == (190.0, Switch.FAIL_BACK)
    assert line.state.mode is Mode.PRIMARY


def test_a_count_oscillating_around_the_minimum_never_flaps():
    line = Timeline(FailoverPolicy(min_online=2, for_seconds=60, recover_seconds=60), step=10)
    wobble = [1, 3, 1, 2, 1, 3] * 40  # 40 minutes of flicker, every 10 s
    assert line.feed(wobble) == [] and line.state.mode is Mode.PRIMARY
    # A real outage: one switch over; the flicker that follows keeps it there.
    assert line.feed([0] * 10 + wobble) == [Switch.FAIL_OVER]
    assert line.state.mode is Mode.FALLBACK
    # Healthy for good: exactly one switch back.
    assert line.feed([4] * 10) == [Switch.FAIL_BACK]
    assert [s for _, s in line.switches] == [Switch.FAIL_OVER, Switch.FAIL_BACK]


def test_a_timer_tick_with_the_same_reading_ends_the_wait():
    policy = FailoverPolicy(min_online=1, for_seconds=30, recover_seconds=30)
    short = PoolReading(True, None, "RunnerPoolEmpty firing")
    state = decide(FailoverState(), short, 100.0, policy).state
    assert decide(state, short, 129.0, policy).switch is None
    decision = decide(state, short, 130.0, policy)
    assert decision.switch is Switch.FAIL_OVER
    assert "RunnerPoolEmpty firing for 30 s" in decision.reason


# ----- the controller against the GitHub simulator --------------------------------------------


def write_config(tmp_path: Path, github: GitHubSimulator, **failover) -> Path:
    cfg = tmp_path / "config.toml"
    table = {
        "pool": "pool-a", "min_online": 2, "for_seconds": 60, "recover_seconds": 120,
        "state_file": str(tmp_path / "failover.json"), **failover,
    }  # fmt: skip
    lines = [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    cfg.write_text(
        f'[github]\norg = "acme"\napi_url = "{github.url}"\n\n[failover]\n' + "\n".join(lines)
    )
    return cfg


def test_switches_set_and_delete_the_variable_and_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    with GitHubSimulator(org="acme", token=TOKEN) as github, SlackSimulator() as slack:
        settings = load_settings(write_config(tmp_path, github), env={"GITHUB_TOKEN": TOKEN})
        config = load_failover_config(settings)
        assert config.fallback_value == FALLBACK and config.target == "org acme"
        clock = FakeClock()
        client = GitHubClient(github.url, lambda: TOKEN, Scope("org", "acme"))
        hook = SlackWebhook(Secret(slack.url), sleep=lambda s: None)
        ctl = FailoverController(config, client, controller="watch", clock=clock, slack=hook)

        async def scenario():
            await ctl.start()
            seen = []
            for count in (1, 1, 1):  # short at 0, 30 and 60 s
                seen.append(await ctl.observe(reading_of(count, config.policy)))
                clock.advance(30)
            middle = github.variables("org").get("CI_RUNNER")
            status = failover_status(settings)
            for count in (3, 3, 3, 3, 3):  # healthy at 90..210 s
                seen.append(await ctl.observe(reading_of(count, config.policy)))
                clock.advance(30)
            await client.aclose()
            return seen, middle, status

        seen, middle, status = asyncio.run(scenario())
        assert seen == [None, None, Switch.FAIL_OVER, None, None, None, None, Switch.FAIL_BACK]
        assert middle == FALLBACK
        assert "CI_RUNNER" not in github.variables("org")
        assert status is not None and status.mode is Mode.FALLBACK
        assert status.last_switch.switch is Switch.FAIL_OVER
        assert "1 runner(s) online, minimum 2 for 60 s" in status.last_switch.reason
        assert status.online == 1 and status.min_online == 2 and status.controller == "watch"
        final = failover_status(settings)
        assert final.mode is Mode.PRIMARY
        assert [h.switch for h in final.history] == [Switch.FAIL_OVER, Switch.FAIL_BACK]
        texts = [m["text"] for m in slack.messages]
        assert texts == [
            "Runner pool pool-a is short: jobs go to ubuntu-latest",
            "Runner pool pool-a is healthy again: jobs come back",
        ]


def test_a_switch_github_refuses_is_tried_again_and_shown(tmp_path):
    with GitHubSimulator(org="acme", token=TOKEN) as github:
        settings = load_settings(
            write_config(tmp_path, github, for_seconds=0), env={"GITHUB_TOKEN": TOKEN}
        )
        config = load_failover_config(settings)
        clock = FakeClock()
        client = GitHubClient(github.url, lambda: TOKEN, Scope("org", "acme"), max_retries=0)
        ctl = FailoverController(config, client, controller="watch", clock=clock)

        async def scenario():
            await ctl.start()
            github.inject_5xx(count=None, path="/orgs/acme/actions/variables")
            first = await ctl.observe(reading_of(0, config.policy))
            refused = failover_status(settings)
            github.clear_faults()
            clock.advance(5)
            too_soon = await ctl.observe(reading_of(0, config.policy))
            clock.advance(30)
            later = await ctl.observe(reading_of(0, config.policy))
            await client.aclose()
            return first, refused, too_soon, later

        first, refused, too_soon, later = asyncio.run(scenario())
        assert first is None and refused.mode is Mode.PRIMARY
        assert refused.error is not None and "fail-over failed" in refused.error
        assert too_soon is None  # no hammering: it waits before trying again
        assert later is Switch.FAIL_OVER
        assert github.variables("org")["CI_RUNNER"] == FALLBACK
        assert failover_status(settings).error is None


def test_dry_run_changes_nothing(tmp_path):
    with GitHubSimulator(org="acme", token=TOKEN) as github:
        settings = load_settings(
            write_config(tmp_path, github, for_seconds=0), env={"GITHUB_TOKEN": TOKEN}
        )
        config = load_failover_config(settings)
        client = GitHubClient(github.url, lambda: TOKEN, Scope("org", "acme"))
        ctl = FailoverController(config, client, controller="watch", dry_run=True)

        async def scenario():
            await ctl.start()
            switch = await ctl.observe(reading_of(0, config.policy))
            again = await ctl.observe(reading_of(0, config.policy))
            await client.aclose()
            return switch, again

        assert asyncio.run(scenario()) == (Switch.FAIL_OVER, None)
        assert github.variables("org") == {}
        assert not config.state_file.exists()
        writes = [r for r in github.requests() if r["method"] != "GET"]
        assert writes == []


def test_start_up_without_state_reads_the_variable(tmp_path):
    with GitHubSimulator(org="acme", token=TOKEN) as github:
        settings = load_settings(
            write_config(tmp_path, github, scope="repo", repository="acme/api"),
            env={"GITHUB_TOKEN": TOKEN},
        )
        config = load_failover_config(settings)
        assert config.target == "repo acme/api"
        client = GitHubClient(github.url, lambda: TOKEN, config.variable_scope)

        async def scenario():
            await client.set_variable("CI_RUNNER", FALLBACK, repo="acme/api")
            ctl = FailoverController(config, client, controller="serve")
            await ctl.start()
            await client.aclose()
            return ctl.state.mode

        assert asyncio.run(scenario()) is Mode.FALLBACK
        assert failover_status(settings) is None  # nothing observed, nothing written yet


def test_bad_failover_tables_are_refused(tmp_path):
    from tui.config import ConfigError

    with GitHubSimulator(org="acme", token=TOKEN) as github:
        for extra, message in (
            ({"fallback_labels": "ubuntu-latest"}, "not JSON"),
            ({"min_online": 0}, "at least 1"),
            ({"scope": "repo"}, "needs repository"),
            ({"pools": "x"}, "unknown key"),
        ):
            settings = load_settings(write_config(tmp_path, github, **extra), env={})
            with pytest.raises(ConfigError, match=message):
                load_failover_config(settings)


# ----- the commands ---------------------------------------------------------------------------


def command_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SLACK_"))}
    env.pop("RUNNERDOC_CONFIG", None)
    return {**env, "GITHUB_TOKEN": TOKEN, "XDG_CONFIG_HOME": str(tmp_path)}


def wait_for(predicate, timeout: float = 30.0, what: str = "it") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=20)
    return out


def test_watch_polls_github_and_switches_both_ways(tmp_path):
    fleet = [pool_runner(i) for i in (1, 2, 3)] + [pool_runner(9, pool="pool-b")]
    hook = tmp_path / "slack.url"
    with (
        GitHubSimulator(org="acme", token=TOKEN, runners=fleet) as github,
        SlackSimulator() as slack,
    ):
        hook.write_text(slack.url)
        cfg = write_config(
            tmp_path, github, for_seconds=0, recover_seconds=0, interval=1,
            slack_webhook_file=str(hook),
        )  # fmt: skip
        process = subprocess.Popen(
            [RUNNERDOC, "failover", "watch", "--config", str(cfg)],
            env=command_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        try:
            wait_for(lambda: (tmp_path / "failover.json").exists(), what="the state file")
            assert github.variables("org") == {}
            github.update_runner(1, status="offline")
            github.update_runner(2, status="offline")
            wait_for(lambda: "CI_RUNNER" in github.variables("org"), what="the fail-over")
            assert github.variables("org")["CI_RUNNER"] == FALLBACK
            github.update_runner(2, status="online")
            wait_for(lambda: "CI_RUNNER" not in github.variables("org"), what="the fail-back")
        finally:
            out = stop(process)
        assert process.returncode == 0, out
        switches = [line for line in out.splitlines() if "failover: pool pool-a fail-" in line]
        assert len(switches) == 2, out
        assert "fail-over: 1 runner(s) online, minimum 2" in switches[0]
        assert 'set CI_RUNNER (org acme) to ["ubuntu-latest"]' in switches[0]
        assert "delete CI_RUNNER (org acme)" in switches[1]
        assert TOKEN not in out and slack.path not in out
        assert [m["text"] for m in slack.messages] == [
            "Runner pool pool-a is short: jobs go to ubuntu-latest",
            "Runner pool pool-a is healthy again: jobs come back",
        ]
        status = subprocess.run(
            [RUNNERDOC, "failover", "status", "--config", str(cfg), "--json"],
            env=command_env(tmp_path), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        data = json.loads(status.stdout)
        assert data["mode"] == "primary" and data["online"] == 2
        assert [h["switch"] for h in data["history"]] == ["fail-over", "fail-back"]


def test_watch_once_dry_run_and_read_only(tmp_path):
    with GitHubSimulator(org="acme", token=TOKEN, runners=[pool_runner(1, "offline")]) as github:
        cfg = write_config(tmp_path, github, for_seconds=0)
        for extra in (["--dry-run"], ["--read-only"]):
            out = subprocess.run(
                [RUNNERDOC, "failover", "watch", "--config", str(cfg), "--once", *extra],
                env=command_env(tmp_path), capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr
            assert "failover (dry run): pool pool-a" in out.stderr
            assert "would set CI_RUNNER" in out.stderr
        assert github.variables("org") == {}
        assert not (tmp_path / "failover.json").exists()
        real = subprocess.run(
            [RUNNERDOC, "failover", "watch", "--config", str(cfg), "--once"],
            env=command_env(tmp_path), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert real.returncode == 0, real.stderr
        assert github.variables("org")["CI_RUNNER"] == FALLBACK


def test_serve_acts_on_alerts_that_a_real_alertmanager_sends(tmp_path):
    port = free_port()
    am_config = f"""
route:
  receiver: unrouted
  group_by: [alertname]
  routes:
    - receiver: failover
      matchers: ['alertname=~"RunnerPoolEmpty|RunnerPoolCapacityLow"']
      group_by: [alertname, pool]
      group_wait: 0s
      group_interval: 1s
      repeat_interval: 1h
receivers:
  - name: unrouted
  - name: failover
    webhook_configs:
      - url: http://127.0.0.1:{port}/alertmanager
        send_resolved: true
"""
    with GitHubSimulator(org="acme", token=TOKEN) as github:
        cfg = write_config(tmp_path, github, for_seconds=0, recover_seconds=0)
        process = subprocess.Popen(
            [RUNNERDOC, "failover", "serve", "--config", str(cfg), "--listen",
             f"127.0.0.1:{port}"],
            env=command_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        am = start_alertmanager(tmp_path / "am", am_config)
        try:
            wait_for(lambda: _listening(port), what="failover serve to listen")
            now = datetime.now(UTC)

            def alert(pool: str, ends: datetime | None = None) -> dict:
                item = {
                    "labels": {"alertname": "RunnerPoolEmpty", "pool": pool,
                               "severity": "critical"},
                    "startsAt": now.isoformat(),
                }  # fmt: skip
                if ends is not None:
                    item["endsAt"] = ends.isoformat()
                return item

            # Another pool's alert changes nothing.
            httpx.post(am.url + "/api/v2/alerts", json=[alert("pool-b")]).raise_for_status()
            time.sleep(3)
            assert github.variables("org") == {}
            httpx.post(am.url + "/api/v2/alerts", json=[alert("pool-a")]).raise_for_status()
            wait_for(lambda: "CI_RUNNER" in github.variables("org"), what="the fail-over")
            assert github.variables("org")["CI_RUNNER"] == FALLBACK
            resolved = alert("pool-a", ends=datetime.now(UTC) - timedelta(seconds=1))
            httpx.post(am.url + "/api/v2/alerts", json=[resolved]).raise_for_status()
            wait_for(lambda: "CI_RUNNER" not in github.variables("org"), what="the fail-back")
        finally:
            am.stop()
            out = stop(process)
        assert "Alertmanager webhooks on http://127.0.0.1:" in out
        assert "fail-over: RunnerPoolEmpty firing" in out
        history = failover_status(load_settings(cfg, env={})).history
        assert [h.switch for h in history] == [Switch.FAIL_OVER, Switch.FAIL_BACK]


def _listening(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_receiver_refuses_what_is_not_an_alertmanager_webhook(tmp_path):
    with GitHubSimulator(org="acme", token=TOKEN) as github:
        settings = load_settings(
            write_config(tmp_path, github, for_seconds=0), env={"GITHUB_TOKEN": TOKEN}
        )
        config = load_failover_config(settings)
        client = GitHubClient(github.url, lambda: TOKEN, Scope("org", "acme"))
        ctl = FailoverController(config, client, controller="serve")
        answers: dict[str, int] = {}

        async def scenario():
            stop_event = asyncio.Event()
            bound: list[tuple[str, int]] = []
            task = asyncio.create_task(
                serve(ctl, ("127.0.0.1", 0), stop_event, token=Secret("hook-token-123"),
                      tick=0.1, on_listening=bound.append)
            )  # fmt: skip
            await asyncio.sleep(0.3)
            url = f"http://127.0.0.1:{bound[0][1]}"
            good = {"Authorization": "Bearer hook-token-123"}
            labels = {"alertname": "RunnerPoolEmpty", "pool": "pool-a"}
            payload = {"alerts": [{"status": "firing", "fingerprint": "f1", "labels": labels}]}
            async with httpx.AsyncClient(base_url=url) as http:

                async def status(path: str, **kw) -> int:
                    return (await http.post(path, **kw)).status_code

                answers["no token"] = await status("/alertmanager", json=payload)
                answers["bad json"] = await status("/alertmanager", content=b"{", headers=good)
                answers["wrong path"] = await status("/", json=payload, headers=good)
                await asyncio.sleep(0.3)
                answers["variable before"] = len(github.variables("org"))
                answers["good"] = await status("/alertmanager", json=payload, headers=good)
                for _ in range(50):
                    await asyncio.sleep(0.1)
                    if github.variables("org"):
                        break
            stop_event.set()
            await task
            await client.aclose()

        asyncio.run(scenario())
        assert answers == {
            "no token": 401, "bad json": 400, "wrong path": 404, "variable before": 0,
            "good": 200,
        }  # fmt: skip
        assert github.variables("org")["CI_RUNNER"] == FALLBACK
        assert failover_status(settings).firing == ("f1",)
