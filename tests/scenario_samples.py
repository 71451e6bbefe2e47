"""A scenario run's results, as `runnerdoc scenario run --report` writes them, for tests.

One passed, one failed with hostile text in what it saw, one skipped: the report,
JUnit XML and the site page are checked against it.
"""

from __future__ import annotations

from typing import Any

SAW = "degraded-resources first for pool-a-001 <img src=x onerror=alert(1)> | one cell"
HOSTILE = "exit 1\n\x1b]52;c;cGF5bG9hZA==\x07</failure>]]> ``` | pipe"


def sample_results() -> dict[str, Any]:
    def step(title: str, state: str, seconds: float, seen: str = "", cleanup=False) -> dict:
        return {"title": title, "asserts": f"{title} holds", "deadline": 60.0, "state": state,
                "seconds": seconds, "seen": seen, "cleanup": cleanup}  # fmt: skip

    return {
        "format": "runnerdoc-scenarios/1",
        "environment": "the lab (4 runners)",
        "location": "/tmp/lab",
        "kind": "lab",
        "started_at": 1_700_000_000.0,
        "seconds": 42.5,
        "ok": False,
        "scenarios": [
            {"name": "fault-disk-full", "title": "Fault disk-full", "story": "INFRA-474",
             "state": "passed", "seconds": 11.4, "started_at": 1_700_000_000.0,
             "runners": ["pool-a-001"], "finding_seconds": 1.6, "recovery_seconds": 10.5,
             "reason": "",
             "steps": [step("Inject", "passed", 0.2), step("Diagnose", "passed", 1.4, SAW),
                       step("Heal pool-a-001", "passed", 0.3, cleanup=True)]},
            {"name": "fault-clock-skew", "title": "Fault clock-skew", "story": "INFRA-474",
             "state": "failed", "seconds": 31.1, "started_at": 1_700_000_012.0,
             "runners": ["pool-b-001"], "finding_seconds": 2.0, "recovery_seconds": None,
             "reason": "Runbook registration-clock fixes it: exit 1",
             "steps": [step("Inject", "passed", 0.2),
                       step("Runbook registration-clock fixes it", "failed", 30.0, HOSTILE),
                       step("GitHub shows the runner online", "not run", 0.0)]},
            {"name": "automatic-failover", "title": "Failover", "story": "INFRA-474",
             "state": "skipped", "seconds": 0.0, "started_at": 0.0, "runners": [],
             "finding_seconds": None, "recovery_seconds": None,
             "reason": "lab only: it changes CI_RUNNER", "steps": []},
        ],
    }  # fmt: skip
