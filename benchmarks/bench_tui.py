"""Benchmark of the terminal UI for 200 and 2,000 runners (run by `nox -s bench`).

The real `runnerdoc` command runs in a pseudo-terminal (80x24) against the GitHub simulator;
the script counts the bytes it writes. Printed per fleet size:

* start -> first full paint: process start until the fleet table is on screen (< 1.5 s)
* UI time per refresh with 1% of rows changed and with nothing changed: CPU the UI spends
  taking a new snapshot and repainting, measured in-process on the same app (< 50 ms)
* bytes written per refresh, nothing changed (< 1 KB) and 1% changed
* CPU of the whole process per refresh (fetching, parsing and drawing)
* peak memory of the process (VmHWM, < 250 MB)

Usage: python benchmarks/bench_tui.py [--sizes 200,2000] [--refreshes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import random
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.github_sim import GitHubSimulator, generate_fleet  # noqa: E402

TOKEN = "ghp_benchmarkToken_" + "x" * 24
ANSI = re.compile(
    r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]"
)
TARGETS = {"paint": 1.5, "ui_ms": 50.0, "idle_bytes": 1024, "peak_mb": 250.0}


class Terminal:
    """`runnerdoc` on a pseudo-terminal; a thread keeps reading what it writes."""

    def __init__(self, argv: list[str], env: dict[str, str], size=(80, 24)):
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            close_fds=True,
        )  # fmt: skip
        os.close(slave)
        self.master = master
        self.total = 0
        self.text = ""  # escapes removed, for finding what is on screen
        self.last_write = self.started
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.2)
                if not ready:
                    if self.process.poll() is not None:
                        return
                    continue
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.total += len(chunk)
                self.last_write = time.perf_counter()
                self.text = (self.text + ANSI.sub("", chunk.decode("utf-8", "replace")))[-20000:]

    def wait_for(self, needle: str, timeout: float = 60.0) -> float:
        """Seconds from process start until `needle` was on screen and writing paused."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                found = needle in self.text
            if found:
                self.settle()
                return self.last_write - self.started
            time.sleep(0.005)
        raise TimeoutError(f"{needle!r} never appeared; last output: {self.text[-500:]!r}")

    def settle(self, quiet: float = 0.15) -> None:
        while time.perf_counter() - self.last_write < quiet:
            time.sleep(0.02)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        try:
            os.write(self.master, b"q")
            self.process.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(5)
        os.close(self.master)


FIRST_PAGE = re.compile(r"/actions/runners\?per_page=\d+$")


def list_requests(sim: GitHubSimulator) -> int:
    """How many times the fleet was listed (first pages only): one per refresh.

    The simulator keeps the last 1,000 requests: enough for the ~12 refreshes measured
    here even at 20 pages each.
    """
    return sum(1 for r in sim.requests() if r["method"] == "GET" and FIRST_PAGE.search(r["path"]))


def wait_refreshes(sim: GitHubSimulator, count: int, timeout: float = 60.0) -> None:
    start = list_requests(sim)
    deadline = time.monotonic() + timeout
    while list_requests(sim) < start + count:
        if time.monotonic() > deadline:
            raise TimeoutError("the app stopped refreshing")
        time.sleep(0.01)


def fetch_seconds(sim: GitHubSimulator) -> float:
    """How long the app's own collector takes to list the fleet once, before any drawing."""
    from tui.sources.fleet import Clients, FleetCollector
    from tui.sources.github import GitHubClient, Scope

    async def run() -> float:
        github = GitHubClient(sim.url, lambda: TOKEN, Scope("org", "acme"))
        start = time.perf_counter()
        await FleetCollector(Clients(github=github)).refresh()
        took = time.perf_counter() - start
        await github.aclose()
        return took

    return asyncio.run(run())


def measure_process(size: int, refreshes: int) -> dict[str, float]:
    fleet = generate_fleet(size, seed=1)
    rng = random.Random(5)
    with GitHubSimulator(org="acme", token=TOKEN, runners=fleet) as sim, \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(
            f'[github]\norg = "acme"\napi_url = "{sim.url}"\ntoken = "{TOKEN}"\n'
            "[ui]\nrefresh_seconds = 1\n"
        )
        cfg.chmod(0o600)
        fetch = fetch_seconds(sim)
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "GITHUB_TOKEN")}
        env.update(TERM="xterm-256color", COLUMNS="80", LINES="24")
        runnerdoc = Path(sys.executable).with_name("runnerdoc")
        term = Terminal([str(runnerdoc), "--config", str(cfg)], env)
        try:
            paint = term.wait_for(f"{size} runners")
            wait_refreshes(sim, 1)
            term.settle(0.3)
            # Nothing changes: conditional requests answer 304 and the table stays as it is.
            before, cpu = term.total, term.cpu_seconds()
            wait_refreshes(sim, refreshes)
            term.settle(0.3)
            idle_bytes = (term.total - before) / refreshes
            idle_cpu = (term.cpu_seconds() - cpu) / refreshes
            # 1% of the runners change state before each refresh.
            changed = max(1, size // 100)
            before, cpu = term.total, term.cpu_seconds()
            for _ in range(refreshes):
                for runner in rng.sample(sim.runners(), changed):
                    sim.update_runner(runner["id"], busy=not runner["busy"])
                wait_refreshes(sim, 1)
            term.settle(0.3)
            busy_bytes = (term.total - before) / refreshes
            busy_cpu = (term.cpu_seconds() - cpu) / refreshes
            peak = term.peak_mb()
        finally:
            term.close()
    return {
        "paint": paint,
        "fetch": fetch,
        "idle_bytes": idle_bytes,
        "busy_bytes": busy_bytes,
        "idle_cpu_ms": idle_cpu * 1000,
        "busy_cpu_ms": busy_cpu * 1000,
        "peak_mb": peak,
    }


def measure_ui(size: int, refreshes: int) -> dict[str, float]:
    """CPU the app spends on a new snapshot, taking it and repainting, in-process (headless)."""
    from tui.app import RunnerdocApp
    from tui.config import GitHubScope, Settings
    from tui.model import FleetRow, FleetSnapshot, HostHealth, SourceStatus, pool_of
    from tui.sources.github import parse_runner

    # The simulator turns label names into GitHub's label objects; it need not serve here.
    shaped = GitHubSimulator(org="acme", token=TOKEN, runners=generate_fleet(size, seed=1))
    runners = [parse_runner(r) for r in shaped.runners()]
    rng = random.Random(9)

    def snapshot(rows_of, taken_at):
        rows = tuple(
            FleetRow(r, pool_of(r), HostHealth(r.name, f"10.0.{i // 250}.{i % 250}:9100", 0.3))
            for i, r in enumerate(rows_of)
        )
        sources = (SourceStatus("github", ok=True, updated_at=taken_at),)
        return FleetSnapshot(taken_at, rows, (), sources)

    async def run() -> dict[str, float]:
        app = RunnerdocApp(Settings(scope=GitHubScope("org", "acme")), live=False, env={})
        async with app.run_test(size=(80, 24)) as pilot:
            current = list(runners)
            app.show_snapshot(snapshot(current, 0.0))
            await pilot.pause(0.3)

            async def cost(change: bool, t: float) -> float:
                nonlocal current
                if change:
                    for i in rng.sample(range(size), max(1, size // 100)):
                        current[i] = replace(current[i], busy=not current[i].busy)
                snap = snapshot(current, t)
                start = time.process_time()
                app.show_snapshot(snap)
                await pilot.pause(0.05)  # the redraw and a frame at Textual's frame rate
                return time.process_time() - start

            # An empty pause costs a little CPU too; subtract it.
            base = []
            for _ in range(refreshes):
                start = time.process_time()
                await pilot.pause(0.05)
                base.append(time.process_time() - start)
            idle = [await cost(False, 1.0 + i) for i in range(refreshes)]
            busy = [await cost(True, 100.0 + i) for i in range(refreshes)]
            floor = sorted(base)[len(base) // 2]
            median = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
            return {
                "ui_idle_ms": max(0.0, median(idle) - floor) * 1000,
                "ui_busy_ms": max(0.0, median(busy) - floor) * 1000,
            }

    return asyncio.run(run())


def verdict(ok: bool) -> str:
    return "ok" if ok else "OVER TARGET"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,2000")
    parser.add_argument("--refreshes", type=int, default=5)
    args = parser.parse_args(argv)
    failed = False
    print(
        f"runnerdoc TUI benchmark · 80x24 pty · TEXTUAL_FPS={os.environ.get('TEXTUAL_FPS', '60')}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        proc = measure_process(size, args.refreshes)
        ui = measure_ui(size, args.refreshes)
        checks = {
            "paint": proc["paint"] < TARGETS["paint"],
            "ui": ui["ui_busy_ms"] < TARGETS["ui_ms"],
            "idle_bytes": proc["idle_bytes"] < TARGETS["idle_bytes"],
            "peak": proc["peak_mb"] < TARGETS["peak_mb"],
        }
        failed |= not all(checks.values())
        print(f"\n{size} runners")
        print(f"  start -> first full paint      {proc['paint']:8.2f} s    "
              f"target < {TARGETS['paint']} s   {verdict(checks['paint'])}")  # fmt: skip
        print(f"    of which listing the runners {proc['fetch']:8.2f} s    (the GitHub simulator "
              f"answering {max(1, -(-size // 100))} pages; the UI waits for it)")  # fmt: skip
        print(f"  UI time per refresh, 1% changed {ui['ui_busy_ms']:7.1f} ms   "
              f"target < {TARGETS['ui_ms']:.0f} ms   {verdict(checks['ui'])}")  # fmt: skip
        print(f"  UI time per refresh, unchanged {ui['ui_idle_ms']:8.1f} ms")
        print(f"  bytes per refresh, unchanged   {proc['idle_bytes']:8.0f} B    "
              f"target < {TARGETS['idle_bytes']} B   {verdict(checks['idle_bytes'])}")  # fmt: skip
        print(f"  bytes per refresh, 1% changed  {proc['busy_bytes']:8.0f} B")
        print(f"  process CPU per refresh        {proc['idle_cpu_ms']:8.1f} ms unchanged, "
              f"{proc['busy_cpu_ms']:.1f} ms 1% changed (fetch + parse + draw)")  # fmt: skip
        print(f"  peak memory (VmHWM)            {proc['peak_mb']:8.1f} MB   "
              f"target < {TARGETS['peak_mb']:.0f} MB  {verdict(checks['peak'])}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
