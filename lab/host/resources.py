"""What a lab host's disk, memory and CPUs hold, computed from its state and its files.

The root filesystem's use is the host's base use, plus docker's images, containers,
volumes and build cache, plus the APPARENT size of every file under the runner root and
the host's /tmp: a sparse file made with `truncate -s 80G` fills the "100 GiB" disk at no
real cost, and deleting it frees the space again. df, du, free, top and the metrics
endpoint all read the figures from here, so they always agree.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.host.state import CPUS, RunnerHost

DIR_SIZE = 4096


@dataclass(frozen=True)
class Disk:
    size: int
    used: int
    inodes: int
    inodes_used: int
    device: str

    @property
    def avail(self) -> int:
        return max(0, self.size - self.used)

    @property
    def inodes_free(self) -> int:
        return max(0, self.inodes - self.inodes_used)


@dataclass(frozen=True)
class Memory:
    total: int
    used: int
    free: int
    cache: int
    shared: int

    @property
    def available(self) -> int:
        # Most of the page cache can be dropped for new processes.
        return min(self.total, self.free + int(self.cache * 0.85))


def tree_usage(root: Path) -> tuple[int, int]:
    """Apparent bytes and the number of files and folders under `root` (du --apparent-size)."""
    total, count = 0, 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        total += DIR_SIZE
        count += 1
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    total += entry.stat(follow_symlinks=False).st_size
                    count += 1
            except FileNotFoundError:
                continue
    return total, count


def docker_bytes(state: dict[str, Any]) -> dict[str, int]:
    docker = state["docker"]
    return {
        "images": sum(i["size"] for i in docker["images"]),
        "containers": sum(c["size"] for c in docker["containers"]),
        "volumes": sum(v["size"] for v in docker["volumes"]),
        "build_cache": int(docker["build_cache"]["size"]),
    }


def disk(host: RunnerHost, state: dict[str, Any]) -> Disk:
    d = state["disk"]
    runner_bytes, runner_files = tree_usage(host.runner_root)
    tmp_bytes, tmp_files = tree_usage(host.fs / "tmp")
    docker = docker_bytes(state)
    # A docker layer holds thousands of small files: that is where inodes go.
    docker_files = 9_000 * len(state["docker"]["images"]) + 1_500 * len(
        state["docker"]["containers"]
    )
    used = d["base_used"] + runner_bytes + tmp_bytes + sum(docker.values())
    inodes_used = d["base_inodes_used"] + runner_files + tmp_files + docker_files
    # A filesystem never holds more than its size: writes past it fail instead.
    return Disk(d["size"], min(used, d["size"]), d["inodes"], inodes_used, d["device"])


def filesystems(host: RunnerHost, state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every mounted filesystem of the host, as df and node_exporter list them."""
    d = disk(host, state)
    mem = state["memory"]["total"]
    return [
        {
            "source": "udev",
            "fstype": "devtmpfs",
            "target": "/dev",
            "size": mem // 2,
            "used": 0,
            "inodes": 2_030_000,
            "iused": 490,
        },
        {
            "source": "tmpfs",
            "fstype": "tmpfs",
            "target": "/run",
            "size": mem // 10,
            "used": 1_200_000,
            "inodes": 2_050_000,
            "iused": 860,
        },
        {
            "source": d.device,
            "fstype": "ext4",
            "target": "/",
            "size": d.size,
            "used": d.used,
            "inodes": d.inodes,
            "iused": d.inodes_used,
        },
        {
            "source": "tmpfs",
            "fstype": "tmpfs",
            "target": "/dev/shm",  # noqa: S108 -- a mount point the host shows
            "size": mem // 2,
            "used": 0,
            "inodes": 2_050_000,
            "iused": 1,
        },
        {
            "source": "tmpfs",
            "fstype": "tmpfs",
            "target": "/run/lock",
            "size": 5 * 1024**2,
            "used": 0,
            "inodes": 2_050_000,
            "iused": 3,
        },
        {
            "source": "/dev/nvme0n1p15",
            "fstype": "vfat",
            "target": "/boot/efi",
            "size": 124 * 1024**2,
            "used": int(6.1 * 1024**2),
            "inodes": 0,
            "iused": 0,
        },
    ]


def memory(state: dict[str, Any]) -> Memory:
    total = int(state["memory"]["total"])
    used = int(state["memory"]["base_used"]) + sum(p["rss"] for p in state["processes"]) * 1024
    used = min(used, total - 64 * 1024**2)
    cache = max(0, min(1_300 * 1024**2, total - used - 96 * 1024**2))
    free = max(0, total - used - cache)
    return Memory(total, used, free, cache, 12 * 1024**2)


def busy_fraction(state: dict[str, Any]) -> float:
    """Share of all CPUs the processes keep busy, plus the kernel's small share."""
    return min(1.0, 0.012 + sum(p.get("cpu", 0.0) for p in state["processes"]) / CPUS)


def cpu_counters(state: dict[str, Any], now: float | None = None) -> dict[str, float]:
    """Seconds spent per mode, summed over all CPUs, as node_cpu_seconds_total counts them.

    The ticker snapshots the counters whenever the busy share changes, so between
    snapshots they grow linearly at the current share.
    """
    now = time.time() if now is None else now
    cpu = state["cpu"]
    base = dict(cpu.get("counters") or {})
    # Without a snapshot yet, the counters run from boot at the share the host has now
    # (counting from "now" would keep them at 0, which reads as 100% busy).
    since = float(cpu.get("snap", state["boot_time"]))
    if not base:
        base = _split(state["boot_time"], since, cpu.get("busy", 0))
    elapsed = max(0.0, now - since)
    grow = _split(0.0, elapsed, float(cpu.get("busy", 0.0)))
    return {mode: base.get(mode, 0.0) + grow[mode] for mode in grow}


def _split(start: float, end: float, busy: float) -> dict[str, float]:
    seconds = max(0.0, end - start) * CPUS
    busy = max(0.012, busy)
    return {
        "user": seconds * busy * 0.72,
        "system": seconds * busy * 0.2,
        "iowait": seconds * busy * 0.05,
        "softirq": seconds * busy * 0.02,
        "irq": 0.0,
        "nice": seconds * busy * 0.01,
        "steal": 0.0,
        "idle": seconds * (1 - busy),
    }


def snapshot_cpu(state: dict[str, Any], now: float | None = None) -> bool:
    """Fold the time since the last snapshot into the counters when the busy share changed."""
    now = time.time() if now is None else now
    busy = busy_fraction(state)
    cpu = state["cpu"]
    if abs(busy - float(cpu.get("busy", 0.0))) < 1e-6 and cpu.get("counters"):
        return False
    cpu["counters"] = cpu_counters(state, now)
    cpu["snap"] = now
    cpu["busy"] = busy
    return True


def load1(state: dict[str, Any]) -> float:
    running = sum(p.get("cpu", 0.0) for p in state["processes"])
    return round(0.04 + running * 1.05, 2)


def human(n: float, *, si: bool = False, suffix: str = "") -> str:
    """coreutils' -h sizes: powers of 1024, one decimal below 10, always rounded up."""
    import math

    base = 1000.0 if si else 1024.0
    units = ["", "K", "M", "G", "T", "P"]
    if n < base:
        return f"{int(n)}{suffix}" if n == int(n) else f"{math.ceil(n)}{suffix}"
    value = float(n)
    unit = 0
    while value >= base and unit < len(units) - 1:
        value /= base
        unit += 1
    if value < 10:
        shown = math.ceil(value * 10) / 10
        if shown >= 10:
            return f"{math.ceil(shown)}{units[unit]}{suffix}"
        return f"{shown:.1f}{units[unit]}{suffix}"
    shown_int = math.ceil(value)
    if shown_int >= base and unit < len(units) - 1:
        return f"1.0{units[unit + 1]}{suffix}"
    return f"{shown_int}{units[unit]}{suffix}"


def docker_size(n: float) -> str:
    """Docker's sizes: decimal units with four significant digits (go-units HumanSize)."""
    units = ["B", "kB", "MB", "GB", "TB"]
    value = float(n)
    unit = 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    return f"{value:.4g}{units[unit]}"
