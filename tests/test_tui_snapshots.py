"""SVG snapshots of every screen at 80x24 and the fleet at 160x48 (pytest-textual-snapshot).

Deterministic on purpose: a fixed clock, fixed snapshots handed to the app, and fixed
stand-ins for the two things whose answers move with time (Prometheus range queries and
log lines). The live sources are exercised by the other test_tui_* modules.
Update after a deliberate change with: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import replace
from pathlib import Path

import pytest
from test_tui_support import FIXED_NOW

from tui.app import RunnerdocApp
from tui.config import GitHubScope, Settings
from tui.model import (
    Alert,
    FleetRow,
    FleetSnapshot,
    HostHealth,
    LogLine,
    RateLimit,
    Runner,
    SourceStatus,
    pool_of,
)
from tui.runbooks.parse import parse_runbook
from tui.sources.fleet import Clients
from tui.sources.prometheus import Series

POOLS = (("pool-a", ()), ("pool-b", ("large",)), ("pool-gpu", ("gpu",)))


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.delenv("NO_COLOR", raising=False)


def fleet(count: int, *, seed: int = 7) -> list[Runner]:
    rng = random.Random(seed)
    runners = []
    for i in range(count):
        pool, extra = POOLS[i % 3]
        roll = rng.random()
        status = "offline" if roll > 0.86 else "online"
        busy = 0.45 < roll < 0.86 or roll > 0.95
        labels = ("self-hosted", "Linux", "X64", pool, *extra)
        kinds = ("read-only",) * 3 + ("custom",) * (1 + len(extra))
        version = "2.319.1" if i % 11 == 4 else "2.330.0"
        name = f"{pool}-{i // 3 + 1:03d}"
        runners.append(Runner(i + 1, name, "Linux", status, busy, labels, kinds, version=version))
    return runners


def alert(name, runner, severity, summary, runbook="", ago=600.0):
    return Alert(
        name=name, severity=severity, state="active",
        labels=(("alertname", name), ("runner", runner), ("severity", severity)),
        summary=summary, description="",
        runbook_url=f"https://runbooks.example/runbooks/{runbook}.html" if runbook else "",
        starts_at=FIXED_NOW - ago, fingerprint=f"{name}-{runner}",
    )  # fmt: skip


def snapshot(count: int = 30, *, taken_at: float = FIXED_NOW, flip: int = 0) -> FleetSnapshot:
    rng = random.Random(11)
    runners = fleet(count)
    for i in range(flip):  # runners whose state changed since the last snapshot
        r = runners[i * 5]
        runners[i * 5] = replace(r, busy=not r.busy)
    alerts = (
        alert("HostDiskFull", "pool-b-002", "critical", "disk 97% full on /", "host-disk-full"),
        alert("RunnerOffline", "pool-a-003", "critical", "offline for 12m", "runner-down"),
        alert("HostMemoryPressure", "pool-gpu-001", "warning", "memory 93% used", ago=120),
    )
    rows = []
    for i, r in enumerate(runners):
        cpu, mem, disk = rng.random(), 0.2 + rng.random() * 0.6, 0.1 + rng.random() * 0.7
        if r.name == "pool-b-002":
            disk = 0.97
        if r.name == "pool-gpu-001":
            mem = 0.93
        health = HostHealth(r.name, f"10.0.{i // 250}.{i % 250 + 1}:9100", cpu, 1 - mem, disk)
        mine = tuple(a for a in alerts if a.runner == r.name)
        rows.append(FleetRow(r, pool_of(r), None if r.status == "offline" else health, mine))
    sources = (
        SourceStatus("github", ok=True, updated_at=taken_at - 2),
        SourceStatus("prometheus", ok=True, updated_at=taken_at - 2),
        SourceStatus("alertmanager", ok=True, updated_at=taken_at - 2),
    )
    rate = RateLimit(limit=5000, remaining=4870, used=130, reset=FIXED_NOW + 1800)
    return FleetSnapshot(taken_at, tuple(rows), alerts, sources, rate, queued_jobs=3)


RUNBOOK = """---
id: {id}
title: {title}
severity: {severity}
team: ci-platform
summary: {summary}
symptom: {summary}
time_to_remediate: 5-10m
alerts: [{alert}]
detection:
{detection}
parameters:
  runner_root:
    type: path
    default: /home/runner/actions-runner
    pattern: '^/[A-Za-z0-9._/-]+$'
    description: Folder where the runner is installed.
quick_reference:
  first_check: check
  fix: fix
escalation: Platform on-call after 30 minutes.
---

# {title}

## Meaning

{summary}

## Impact

Jobs wait for a runner or fail.

## Diagnosis

### Look at it

What does the host say?

```bash {{ name=check kind=diagnose }}
df -h {{runner_root}}
```

## Mitigation

### Fix it

Make room or restart.

```bash {{ name=fix kind=remediate }}
sudo -n systemctl restart "$(cat {{runner_root}}/.service)"
```

## Verification

### It works again

The service runs.

```bash {{ name=verify kind=verify }}
systemctl is-active "$(cat {{runner_root}}/.service)"
```

## Escalation

Page the platform team.

## Related log signatures

Lines that point here.
"""


def fixed_runbooks() -> dict:
    """Two runbooks written here, so the snapshots do not change when docs/runbooks does."""
    pages = (
        ("host-disk-full", "Host disk full", "critical", "The work disk is full.", "HostDiskFull",
         "  - source: metric\n    query: host-disk-used-ratio\n    op: \">\"\n    threshold: 0.9"),
        ("runner-down", "Runner down", "critical", "The runner is not connected.",
         "RunnerOffline", "  - source: github\n    state: offline"),
    )  # fmt: skip
    out = {}
    for rid, title, severity, summary, alert_name, detection in pages:
        text = RUNBOOK.format(id=rid, title=title, severity=severity, summary=summary,
                              alert=alert_name, detection=detection)  # fmt: skip
        out[rid] = parse_runbook(Path(f"docs/runbooks/{rid}.md"), text)
    return out


class FixedPrometheus:
    """Range queries answered with fixed curves: a live Prometheus moves with the clock."""

    async def query_range(self, expr, start, end, step):
        base = 0.93 if "filesystem" in expr else 0.35 if "MemAvailable" in expr else 0.45
        n = int((end - start) // step) + 1
        points = tuple(
            (start + k * step, min(0.99, base + 0.08 * math.sin(k / 6))) for k in range(n)
        )
        return [Series({"instance": "10.0.0.5:9100", "runner": "pool-b-002"}, points)]

    async def aclose(self):
        pass


class FixedLogs:
    """A LogSource with fixed lines, as the SSH log source of the remote layer will plug in."""

    name = "journal"

    async def recent(self, runner, limit, *, contains=None):
        lines = [
            "Listening for Jobs",
            "Running job: build (ubuntu-22.04)",
            "System.IO.IOException: No space left on device : '/home/runner/_work/_temp'",
            "Job build completed with result: Failed",
            "Runner connect error: Name or service not known. Retrying until reconnected.",
        ]
        return [
            LogLine(FIXED_NOW - 300 + 30 * i, text, source="worker")
            for i, text in enumerate(lines)
            if not contains or contains.lower() in text.lower()
        ][::-1][:limit]


def app(**settings) -> RunnerdocApp:
    values = {"scope": GitHubScope("org", "acme"), "refresh_seconds": 15.0}
    values.update(settings)
    return RunnerdocApp(
        Settings(**values),
        clients=Clients(prometheus=FixedPrometheus()),
        log_source=FixedLogs(),
        runbooks=fixed_runbooks(),
        signatures=[],
        clock=lambda: FIXED_NOW,
        live=False,
        env={},
    )


def with_fleet(count: int = 30, *keys: str):
    async def before(pilot):
        a = pilot.app
        a.show_snapshot(snapshot(count, taken_at=FIXED_NOW - 90))
        a.show_snapshot(snapshot(count, taken_at=FIXED_NOW - 45, flip=3))
        await pilot.pause()
        if keys:
            await pilot.press(*keys)
        await pilot.pause(0.3)

    return before


def test_fleet_80x24(snap_compare):
    assert snap_compare(app(), terminal_size=(80, 24), run_before=with_fleet())


def test_fleet_160x48(snap_compare):
    assert snap_compare(app(), terminal_size=(160, 48), run_before=with_fleet(60))


def test_fleet_filtered_and_grouped_read_only_80x24(snap_compare):
    keys = ("g", "slash", *"!state:idle", "enter")
    before = with_fleet(30, *keys)
    assert snap_compare(app(read_only=True), terminal_size=(80, 24), run_before=before)


def test_fleet_ansi_theme_80x24(snap_compare):
    assert snap_compare(
        app(theme="runnerdoc-ansi"), terminal_size=(80, 24), run_before=with_fleet(30, "o")
    )


def test_fleet_light_theme_160x48(snap_compare):
    assert snap_compare(app(theme="light"), terminal_size=(160, 48), run_before=with_fleet(60))


def open_runner(*keys: str):
    async def before(pilot):
        await with_fleet()(pilot)
        table = pilot.app.screen.query_one("#fleet")
        table.move_cursor(row=table.get_row_index("r5"))  # pool-b-002
        await pilot.press("enter", *keys)
        await pilot.pause(0.5)

    return before


def test_runner_charts_80x24(snap_compare):
    assert snap_compare(app(), terminal_size=(80, 24), run_before=open_runner())


def test_runner_logs_80x24(snap_compare):
    assert snap_compare(app(), terminal_size=(80, 24), run_before=open_runner("l"))


def test_runner_alerts_and_runbooks_160x48(snap_compare):
    assert snap_compare(app(), terminal_size=(160, 48), run_before=open_runner("a"))


def test_alerts_80x24(snap_compare):
    assert snap_compare(app(), terminal_size=(80, 24), run_before=with_fleet(30, "a"))


def test_runbook_page_80x24(snap_compare):
    keys = ("b", "enter")
    assert snap_compare(app(), terminal_size=(80, 24), run_before=with_fleet(30, *keys))


def test_help_80x24(snap_compare):
    assert snap_compare(app(), terminal_size=(80, 24), run_before=with_fleet(30, "question_mark"))


def test_query_explorer_80x24(snap_compare):
    keys = ("e", "down", "down", "down", "down", "down", "down", "down", "down", "down")
    assert snap_compare(app(), terminal_size=(80, 24), run_before=with_fleet(30, *keys))
