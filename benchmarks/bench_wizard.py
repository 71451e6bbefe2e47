"""Time from a fault to the right finding and to recovery, per lab fault kind.

Runs each fault as a drill on a fresh lab (inject, `runnerdoc diagnose` until the right
runbook is first, `runnerdoc runbook run --yes`, wait until GitHub shows the runner
online) and prints the seconds beside the original plan's estimates for a person
(story INFRA-474). Targets: finding < 30 s, recovery < 60 s.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from lab.drill import PLAN_MINUTES, RUNBOOK_FOR_FAULT, Drill, DrillFailed, runnerdoc_exe


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="runnerdoc-bench-") as tmp:
        lab_dir = Path(tmp) / "lab"
        env = {**os.environ, "RUNNERDOC_LAB_DIR": str(lab_dir)}
        subprocess.run([runnerdoc_exe(), "lab", "up", "--runners", "4"], env=env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        drill = Drill(lab_dir, journal_dir=Path(tmp) / "journal")
        try:
            runners = [r["name"] for r in drill.status()["runners"]]
            print("Fault -> right finding -> recovered (runner online in GitHub), unattended")
            print(f"{'fault':<22}{'runbook':<22}{'finding':>9}{'recovery':>10}"
                  f"{'alerts ok':>11}   plan (by hand)")  # fmt: skip
            for i, kind in enumerate(RUNBOOK_FOR_FAULT):
                runner = runners[i % len(runners)]
                try:
                    r = drill.drill(runner, kind)
                    alerts = f"{r.alerts_resolved:.1f} s" if r.alerts_resolved else "–"
                    print(f"{kind:<22}{r.runbook:<22}{r.to_finding:>7.1f} s{r.to_recovery:>8.1f} s"
                          f"{alerts:>11}   {PLAN_MINUTES[kind]} min")  # fmt: skip
                except DrillFailed as e:
                    print(f"{kind:<22}FAILED: {str(e).splitlines()[0]}")
                finally:
                    drill.run("lab", "heal", runner)
        finally:
            subprocess.run([runnerdoc_exe(), "lab", "down"], env=env, capture_output=True,
                           timeout=120)  # fmt: skip


if __name__ == "__main__":
    main()
