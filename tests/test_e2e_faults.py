"""End to end against the lab: for every fault kind, inject, diagnose (right runbook first),
run the runbook unattended over real SSH, and see the runner online with its alerts resolved."""

from __future__ import annotations

import os
import subprocess

import pytest

from lab.drill import RUNBOOK_FOR_FAULT, Drill, runnerdoc_exe

RUNNERS = 4


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e-lab")
    env = {**os.environ, "RUNNERDOC_LAB_DIR": str(folder / "lab")}
    up = subprocess.run([runnerdoc_exe(), "lab", "up", "--runners", str(RUNNERS)],
                        capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    drill = Drill(folder / "lab", journal_dir=folder / "journal", log=print)
    yield drill
    down = subprocess.run([runnerdoc_exe(), "lab", "down"], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip
    assert down.returncode == 0, down.stdout + down.stderr


@pytest.mark.parametrize("kind", list(RUNBOOK_FOR_FAULT))
def test_fault_is_diagnosed_and_fixed_unattended(lab, kind):
    runners = [r["name"] for r in lab.status()["runners"]]
    runner = runners[list(RUNBOOK_FOR_FAULT).index(kind) % len(runners)]
    try:
        result = lab.drill(runner, kind)
    finally:
        lab.run("lab", "heal", runner)
    assert result.runbook == RUNBOOK_FOR_FAULT[kind]
    assert result.findings[0]["runbook"] == result.runbook and result.findings[0]["evidence"]
    assert result.to_finding <= result.to_recovery
    assert result.alerts_resolved is not None
