"""How long `runnerdoc lab up` takes with 4 and with 50 runners, and what the lab holds in memory.

Starts each lab in a fresh temporary folder, times `lab up` until it says "running", sums
the resident memory (RSS) of every process of the lab (supervisor, Prometheus,
Alertmanager, Pushgateway, exporter, one sshd per host), times `lab down`, and checks
that nothing is left. Run: `nox -s bench` or `python benchmarks/bench_lab.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import processes

SIZES = (4, 50)


def lab_pids(folder: Path) -> list[int]:
    state = json.loads((folder / "lab.json").read_text())
    pids = {state["supervisor"]["pid"]}
    pids |= {s["pid"] for s in state["services"].values() if s["kind"] == "process"}
    pids |= {r["sshd"]["pid"] for r in state["runners"]}
    pids |= set(processes.marked(folder))
    return sorted(pids)


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def run(runners: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-lab-") as tmp:
        folder = Path(tmp) / "lab"
        env = {**os.environ, "RUNNERDOC_LAB_DIR": str(folder)}
        cli = [sys.executable, "-m", "tui.cli", "lab"]
        began = time.perf_counter()
        up = subprocess.run([*cli, "up", "--runners", str(runners)], env=env,
                            capture_output=True, text=True, timeout=600)  # fmt: skip
        up_seconds = time.perf_counter() - began
        if up.returncode != 0:
            raise SystemExit(f"lab up failed: {up.stderr}")
        time.sleep(3)  # a few ticks and scrapes: memory as it runs, not as it starts
        pids = lab_pids(folder)
        memory = sum(rss_bytes(pid) for pid in pids)
        began = time.perf_counter()
        down = subprocess.run([*cli, "down"], env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        down_seconds = time.perf_counter() - began
        left = [p for p in pids if processes.alive(p, None) and not processes.is_zombie(p)]
        if down.returncode != 0 or left:
            raise SystemExit(f"lab down left processes {left}: {down.stderr}")
        return {"up": up_seconds, "down": down_seconds, "processes": len(pids),
                "rss_mib": memory / 1024**2}  # fmt: skip


def main() -> int:
    print(f"{'runners':>7}  {'lab up':>8}  {'lab down':>8}  {'processes':>9}  {'memory (RSS)':>12}")
    for runners in SIZES:
        r = run(runners)
        print(f"{runners:>7}  {r['up']:>7.2f}s  {r['down']:>7.2f}s  {int(r['processes']):>9}  "
              f"{r['rss_mib']:>9.0f} MiB")  # fmt: skip
    print("target: lab up with 4 runners under 15 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
