"""Ships every lab host's logs to the Loki stand-in, as Grafana Alloy does on a real host.

Each tick it reads what is new in the host's journal and in the runner's `_diag` files
(Runner_* and Worker_*) and pushes the lines with the labels the project's LogQL
templates use: job="actions-runner", host, runner, source (journal|runner|worker), level.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path

from lab.host.state import RunnerHost
from lab.loki_sim import LokiStore

_DIAG = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ (INFO|WARN|ERR |ERR|VERB)\s")
_DIAG_LEVELS = {"INFO": "info", "WARN": "warn", "ERR": "err", "VERB": "verbose"}


def journal_level(priority: int) -> str:
    if priority <= 3:
        return "err"
    if priority == 4:
        return "warn"
    if priority >= 7:
        return "verbose"
    return "info"


class LogShipper:
    def __init__(self, hosts: Mapping[str, RunnerHost], store: LokiStore):
        self.hosts = hosts
        self.store = store
        self._offsets: dict[Path, int] = {}
        self._batch: dict[tuple[tuple[str, str], ...], list[tuple[int, str]]] = {}

    def tick(self) -> int:
        """Ship what is new everywhere; returns the number of lines shipped."""
        shipped = 0
        for name, host in list(self.hosts.items()):
            shipped += self._journal(name, host)
            shipped += self._diag(name, host)
        # One push per stream and tick, as Alloy batches.
        batch, self._batch = self._batch, {}
        for key, values in batch.items():
            self.store.push(dict(key), values)
        return shipped

    def _new_text(self, path: Path) -> str:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            self._offsets.pop(path, None)
            return ""
        start = self._offsets.get(path, 0)
        if size < start:
            start = 0  # the file was replaced
        if size == start:
            return ""
        with path.open("rb") as f:
            f.seek(start)
            chunk = f.read(size - start)
        # Keep a half-written last line for the next tick.
        end = chunk.rfind(b"\n") + 1
        self._offsets[path] = start + end
        return chunk[:end].decode("utf-8", errors="replace")

    def _push(self, name: str, source: str, level: str, stamp_ns: int, line: str) -> None:
        labels = {
            "job": "actions-runner",
            "host": name,
            "runner": name,
            "source": source,
            "level": level,
        }
        self._batch.setdefault(tuple(sorted(labels.items())), []).append((stamp_ns, line))

    def _journal(self, name: str, host: RunnerHost) -> int:
        count = 0
        for raw in self._new_text(host.journal_file).splitlines():
            with contextlib.suppress(ValueError, KeyError):
                entry = json.loads(raw)
                stamp = int(float(entry.get("r", time.time())) * 1e9)
                self._push(
                    name, "journal", journal_level(int(entry.get("pr", 6))), stamp, entry["m"]
                )
                count += 1
        return count

    def _diag(self, name: str, host: RunnerHost) -> int:
        count = 0
        try:
            files = sorted(host.diag.glob("*.log"))
        except OSError:
            return 0
        for path in files:
            if path.name.startswith("Runner_"):
                source = "runner"
            elif path.name.startswith("Worker_"):
                source = "worker"
            else:
                continue
            level = "info"
            now_ns = time.time_ns()
            for line in self._new_text(path).splitlines():
                m = _DIAG.match(line)
                if m:
                    level = _DIAG_LEVELS[m.group(1).strip()]
                # A continuation line (an exception trace) keeps its entry's level.
                self._push(name, source, level, now_ns + count, line)
                count += 1
        return count
