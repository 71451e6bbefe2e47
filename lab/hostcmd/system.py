"""The host's everyday tools: df, du, free, ps, top, id, getent, usermod, gpasswd, sudo, date.

Each reads the host's simulated state (lab.host.resources for sizes) and prints what the
Debian 12 tool prints, with the same exit codes.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lab.host import resources
from lab.host.state import GIB
from lab.host.timefmt import date_default, elapsed
from lab.hostcmd.paths import PathMap, real_program
from lab.hostcmd.session import Session, err, out

# ----- df ------------------------------------------------------------------------------------


def _pct(used: int, total: int) -> str:
    if total <= 0:
        return "-"
    return f"{math.ceil(used * 100 / total)}%" if used else "0%"


def _table(rows: list[list[str]], left: set[int], minimum: list[int]) -> None:
    widths = [max(minimum[i], *(len(r[i]) for r in rows)) for i in range(len(rows[0]))]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            if last:
                cells.append(cell)
            elif i in left:
                cells.append(cell.ljust(widths[i]))
            else:
                cells.append(cell.rjust(widths[i]))
        out(" ".join(cells).rstrip())


def cmd_df(session: Session, args: list[str]) -> int:
    human = inodes = show_type = False
    exclude: set[str] = set()
    only: set[str] = set()
    fields: list[str] | None = None
    paths: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-x", "--exclude-type", "-t", "--type") and i + 1 < len(args):
            (exclude if a in ("-x", "--exclude-type") else only).add(args[i + 1])
            i += 2
            continue
        if a.startswith("--exclude-type="):
            exclude.add(a.split("=", 1)[1])
        elif a.startswith("--type="):
            only.add(a.split("=", 1)[1])
        elif a.startswith("--output"):
            fields = (
                a.split("=", 1)[1]
                if "=" in a
                else "source,fstype,itotal,iused,iavail,ipcent,size,used,avail,pcent,target"
            ).split(",")
        elif a in ("--human-readable", "--si"):
            human = True
        elif a == "--inodes":
            inodes = True
        elif a == "--print-type":
            show_type = True
        elif a.startswith("-") and not a.startswith("--") and len(a) > 1:
            human = human or "h" in a or "H" in a
            inodes = inodes or "i" in a
            show_type = show_type or "T" in a
        elif not a.startswith("-"):
            paths.append(a)
        i += 1
    state = session.host.read()
    systems = resources.filesystems(session.host, state)
    code = 0
    chosen: list[dict] = []
    if paths:
        mapper = PathMap(session.host, state)
        for p in paths:
            if not os.path.exists(mapper.real(p)) and p not in ("/var/run/docker.sock",):
                err(f"df: {p}: No such file or directory")
                code = 1
                continue
            mounts = sorted(
                (
                    f
                    for f in systems
                    if p == f["target"]
                    or p.startswith(f["target"].rstrip("/") + "/")
                    or f["target"] == "/"
                ),
                key=lambda f: len(f["target"]),
            )
            chosen.append(mounts[-1])
    else:
        chosen = [
            f for f in systems if f["fstype"] not in exclude and (not only or f["fstype"] in only)
        ]
    if not chosen:
        if not paths:
            err("df: no file systems processed")
        return 1

    def size(n: int) -> str:
        return resources.human(n) if human else str(math.ceil(n / 1024))

    def count(n: int) -> str:
        return resources.human(n, si=False) if human and n >= 1000 else str(n)

    def cell(f: dict, field: str) -> str:
        avail = max(0, f["size"] - f["used"])
        ifree = max(0, f["inodes"] - f["iused"])
        return {
            "source": f["source"],
            "fstype": f["fstype"],
            "target": f["target"],
            "size": size(f["size"]),
            "used": size(f["used"]),
            "avail": size(avail),
            "pcent": _pct(f["used"], f["used"] + avail),
            "itotal": count(f["inodes"]) if f["inodes"] else "0",
            "iused": count(f["iused"]) if f["inodes"] else "0",
            "iavail": count(ifree) if f["inodes"] else "0",
            "ipcent": _pct(f["iused"], f["inodes"]) if f["inodes"] else "-",
            "file": "-",
        }[field]

    headers = {
        "source": "Filesystem",
        "fstype": "Type",
        "target": "Mounted on",
        "size": "Size" if human else "1K-blocks",
        "used": "Used",
        "avail": "Avail" if human else "Available",
        "pcent": "Use%",
        "itotal": "Inodes",
        "iused": "IUsed",
        "iavail": "IFree",
        "ipcent": "IUse%",
        "file": "File",
    }
    if fields is None:
        fields = (
            ["source", "itotal", "iused", "iavail", "ipcent", "target"]
            if inodes
            else ["source", "size", "used", "avail", "pcent", "target"]
        )
        if show_type:
            fields.insert(1, "fstype")
    rows = [[headers.get(f, f) for f in fields]] + [[cell(fs, f) for f in fields] for fs in chosen]
    least = {"source": 14, "size": 5 if human else 0, "used": 5 if human else 0}
    least["avail"] = least["size"]
    _table(
        rows,
        left={i for i, f in enumerate(fields) if f in ("source", "fstype", "target")},
        minimum=[least.get(f, 0) for f in fields],
    )
    return code


# ----- du ------------------------------------------------------------------------------------


def cmd_du(session: Session, args: list[str]) -> int:
    human = summary = total = show_all = as_bytes = False
    depth: int | None = None
    block = 1024
    paths: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-d", "--max-depth") and i + 1 < len(args):
            depth = int(args[i + 1])
            i += 2
            continue
        if a.startswith("--max-depth="):
            depth = int(a.split("=", 1)[1])
        elif a in ("--human-readable",):
            human = True
        elif a in ("--summarize",):
            summary = True
        elif a in ("--bytes",):
            as_bytes = True
        elif a.startswith("--"):
            pass  # --apparent-size (what the lab counts anyway), --one-file-system
        elif a.startswith("-") and len(a) > 1:
            human = human or "h" in a
            summary = summary or "s" in a
            total = total or "c" in a
            show_all = show_all or "a" in a
            as_bytes = as_bytes or "b" in a
            block = 1024 * 1024 if "m" in a else block
        else:
            paths.append(a)
        i += 1
    if summary:
        depth = 0
    state = session.host.read()
    is_root = session.is_root(state)

    def fmt(n: int) -> str:
        if human:
            return resources.human(n)
        if as_bytes:
            return str(n)
        return str(math.ceil(n / block))

    code = 0
    grand = 0
    for p in paths or ["."]:
        if p == "/var/lib/docker" or p.startswith("/var/lib/docker/"):
            if not is_root:
                err(f"du: cannot read directory '{p}': Permission denied")
                code = 1
            entries = _docker_tree(state) if p == "/var/lib/docker" else []
            sizes = [(f"{p}/{name}", size, 1) for name, size in entries]
            whole = sum(s for _, s, _ in sizes) + 4096
            for path, size, level in sizes:
                if depth is None or level <= depth:
                    out(f"{fmt(size)}\t{path}")
            out(f"{fmt(whole)}\t{p}")
            grand += whole
            continue
        real = PathMap(session.host, state).real(p)
        if not os.path.exists(real):
            err(f"du: cannot access '{p}': No such file or directory")
            code = 1
            continue
        listing: list[tuple[str, int, int]] = []
        whole = _walk(Path(real), 0, listing, show_all)
        for path, size, level in listing:
            if depth is None or level <= depth:
                shown = path.replace(real, p, 1) if real != p else path
                out(f"{fmt(size)}\t{shown}")
        grand += whole
    if total:
        out(f"{fmt(grand)}\ttotal")
    return code


def _walk(path: Path, level: int, listing: list, show_all: bool) -> int:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return 0
    if not path.is_dir() or path.is_symlink():
        if level == 0 or show_all:
            listing.append((str(path), st.st_size, level))
        return st.st_size
    size = resources.DIR_SIZE
    try:
        children = sorted(path.iterdir())
    except PermissionError:
        children = []
    for child in children:
        size += _walk(child, level + 1, listing, show_all)
    listing.append((str(path), size, level))
    return size


def _docker_tree(state: dict) -> list[tuple[str, int]]:
    b = resources.docker_bytes(state)
    return [
        ("buildkit", b["build_cache"] + 65_536),
        ("containers", 24_576 * max(1, len(state["docker"]["containers"]))),
        ("image", 2_400_000),
        ("network", 12_288),
        ("overlay2", b["images"] + b["containers"]),
        ("plugins", 4096),
        ("runtimes", 4096),
        ("swarm", 4096),
        ("tmp", 4096),
        ("volumes", b["volumes"] + 32_768),
    ]


# ----- free ----------------------------------------------------------------------------------


def cmd_free(session: Session, args: list[str]) -> int:
    state = session.host.read()
    m = resources.memory(state)
    unit = 1024
    human = False
    for a in args:
        if a in ("-m", "--mebi"):
            unit = 1024**2
        elif a in ("-g", "--gibi"):
            unit = GIB
        elif a in ("-b", "--bytes"):
            unit = 1
        elif a in ("-h", "--human"):
            human = True

    def v(n: int) -> str:
        if human:
            return _free_human(n)
        return str(n // unit)

    buffers_cache = m.cache
    used = m.total - m.free - buffers_cache
    out(
        f"{'':8}{'total':>12}{'used':>12}{'free':>12}{'shared':>12}{'buff/cache':>12}"
        f"{'available':>12}"
    )
    out(
        f"{'Mem:':<8}{v(m.total):>12}{v(used):>12}{v(m.free):>12}{v(m.shared):>12}"
        f"{v(buffers_cache):>12}{v(m.available):>12}"
    )
    out(f"{'Swap:':<8}{v(0):>12}{v(0):>12}{v(0):>12}")
    return 0


def _free_human(n: int) -> str:
    for unit, size in (("Gi", GIB), ("Mi", 1024**2), ("Ki", 1024)):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{n}B"


# ----- ps and top ----------------------------------------------------------------------------

_PS_COLUMNS = {
    # name: (header, right aligned, width)
    "pid": ("PID", True, 7),
    "ppid": ("PPID", True, 7),
    "user": ("USER", False, 8),
    "euser": ("EUSER", False, 8),
    "uid": ("UID", True, 5),
    "rss": ("RSS", True, 5),
    "rsz": ("RSZ", True, 5),
    "vsz": ("VSZ", True, 6),
    "etime": ("ELAPSED", True, 11),
    "etimes": ("ELAPSED", True, 7),
    "time": ("TIME", True, 8),
    "comm": ("COMMAND", False, 0),
    "ucomm": ("COMMAND", False, 0),
    "args": ("COMMAND", False, 0),
    "cmd": ("CMD", False, 0),
    "command": ("COMMAND", False, 0),
    "%cpu": ("%CPU", True, 4),
    "pcpu": ("%CPU", True, 4),
    "%mem": ("%MEM", True, 4),
    "pmem": ("%MEM", True, 4),
    "stat": ("STAT", False, 4),
    "tty": ("TT", False, 8),
    "tname": ("TTY", False, 8),
    "start": ("STARTED", True, 8),
    "c": ("C", True, 1),
    "stime": ("STIME", False, 5),
    "nlwp": ("NLWP", True, 4),
}


def _ps_value(p: dict, field: str, state: dict, now: float) -> str:
    total_kb = state["memory"]["total"] / 1024
    age = now - p["start"]
    cpu_seconds = age * p.get("cpu", 0.0) + 0.3
    if field in ("pid", "ppid", "rss", "rsz", "vsz", "nlwp"):
        key = {"rsz": "rss"}.get(field, field)
        return str(p.get(key, 1))
    if field in ("user", "euser"):
        name = p["user"]
        return name if len(name) <= 8 else name[:7] + "+"
    if field == "uid":
        return str(state["accounts"].get(p["user"], {}).get("uid", 0))
    if field == "etime":
        return elapsed(age)
    if field == "etimes":
        return str(int(age))
    if field == "time":
        s = int(cpu_seconds)
        return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
    if field in ("comm", "ucomm"):
        return p["comm"]
    if field in ("args", "cmd", "command"):
        return p["args"]
    if field in ("%cpu", "pcpu", "c"):
        value = min(99.9, p.get("cpu", 0.0) * 100)
        return str(int(value)) if field == "c" else f"{value:.1f}"
    if field in ("%mem", "pmem"):
        return f"{p['rss'] * 100 / total_kb:.1f}"
    if field == "stat":
        return "R" if p.get("cpu", 0) > 0.5 else "Ss" if p["pid"] == p.get("ppid") else "S"
    if field in ("tty", "tname"):
        return "?"
    if field in ("start", "stime"):
        return time.strftime("%H:%M", time.gmtime(p["start"]))
    return "-"


def cmd_ps(session: Session, args: list[str]) -> int:
    state = session.host.read()
    fields: list[str] | None = None
    select_all = False
    names: set[str] = set()
    pids: set[int] = set()
    users: set[str] = set()
    sort: list[str] = []
    headers = True
    bsd = False
    i = 0
    while i < len(args):
        a = args[i]
        nxt = args[i + 1] if i + 1 < len(args) else ""
        if a in ("-o", "o", "--format", "-O"):
            fields = (fields or []) + [f for f in re.split(r"[,\s]+", nxt) if f]
            i += 2
            continue
        if a.startswith("--format="):
            fields = (fields or []) + a.split("=", 1)[1].split(",")
        elif a in ("-C",):
            names.update(nxt.split(","))
            i += 2
            continue
        elif a in ("-p", "p", "--pid"):
            pids.update(int(x) for x in nxt.split(",") if x.isdigit())
            i += 2
            continue
        elif a in ("-u", "-U", "U", "--user"):
            users.update(nxt.split(","))
            i += 2
            continue
        elif a in ("--sort", "k"):
            sort += nxt.split(",")
            i += 2
            continue
        elif a.startswith("--sort="):
            sort += a.split("=", 1)[1].split(",")
        elif a in ("--no-headers", "--no-heading", "h"):
            headers = False
        elif a in ("-e", "-A", "ax", "-ax", "aux", "-aux", "axu"):
            select_all = True
            bsd = bsd or "u" in a
        elif a == "-ef":
            select_all = True
            fields = ["uid_user", "pid", "ppid", "c", "stime", "tty", "time", "args"]
        elif re.fullmatch(r"-[eAfly]+", a):
            select_all = select_all or "e" in a or "A" in a
            if "f" in a:
                fields = ["uid_user", "pid", "ppid", "c", "stime", "tty", "time", "args"]
        elif a.startswith("-eo") or a.startswith("-Ao"):
            select_all = True
            fields = (fields or []) + [f for f in a[3:].split(",") if f] if len(a) > 3 else fields
            if len(a) == 3:
                fields = (fields or []) + nxt.split(",")
                i += 2
                continue
        i += 1
    procs = list(state["processes"])
    if names:
        procs = [p for p in procs if p["comm"] in names]
    if pids:
        procs = [p for p in procs if p["pid"] in pids]
    if users:
        procs = [p for p in procs if p["user"] in users]
    if not (select_all or names or pids or users):
        procs = [p for p in procs if p["user"] == session.user]
    if fields is None:
        fields = (
            ["user", "pid", "%cpu", "%mem", "vsz", "rss", "tty", "stat", "start", "time", "command"]
            if bsd
            else ["pid", "tty", "time", "cmd"]
        )
    fields = ["user" if f == "uid_user" else f.lower() for f in fields]
    now = time.time()
    for key in reversed(sort or ["pid"]):
        desc = key.startswith("-")
        field = key.lstrip("+-").lower()
        numeric = field in ("pid", "ppid", "rss", "vsz", "%cpu", "pcpu", "%mem", "pmem", "etimes")

        def sort_key(p: dict, field: str = field, numeric: bool = numeric) -> Any:
            if field in ("etime", "etimes"):
                return now - p["start"]
            value = _ps_value(p, field, state, now)
            return float(value) if numeric else value

        procs.sort(key=sort_key, reverse=desc)
    rows = [[_ps_value(p, f, state, now) for f in fields] for p in procs]
    heads = [_PS_COLUMNS.get(f, (f.upper(), True, 0))[0] for f in fields]
    if fields == ["user", "pid", "ppid", "c", "stime", "tty", "time", "args"]:
        heads[0] = "UID"
    widths = []
    for n, f in enumerate(fields):
        _, _, base = _PS_COLUMNS.get(f, (f, True, 0))
        widths.append(
            max(base, len(heads[n]), *(len(r[n]) for r in rows))
            if rows
            else max(base, len(heads[n]))
        )
    lines = [heads] if headers else []
    lines += rows
    for row in lines:
        cells = []
        for n, cell in enumerate(row):
            f = fields[n]
            right = _PS_COLUMNS.get(f, (f, True, 0))[1]
            last = n == len(row) - 1
            cells.append(
                cell
                if last and not right
                else cell.rjust(widths[n])
                if right
                else cell.ljust(widths[n])
            )
        out(" ".join(cells))
    return 0 if procs else 1


def cmd_top(session: Session, args: list[str]) -> int:
    state = session.host.read()
    now_host = session.host.now(state)
    now = time.time()
    m = resources.memory(state)
    load = resources.load1(state)
    up = now - state["boot_time"]
    days, rest = divmod(int(up), 86400)
    busy = resources.busy_fraction(state) * 100
    procs = sorted(state["processes"], key=lambda p: (-p.get("cpu", 0.0), -p["rss"]))
    running = sum(1 for p in procs if p.get("cpu", 0) > 0.5)
    mib = 1024**2
    out(
        f"top - {time.strftime('%H:%M:%S', time.gmtime(now_host))} up {days} days, "
        f"{rest // 3600:2d}:{rest // 60 % 60:02d},  1 user,  load average: {load:.2f}, "
        f"{load * 0.8:.2f}, {load * 0.6:.2f}"
    )
    out(
        f"Tasks: {len(procs):3d} total, {running:3d} running, {len(procs) - running:3d} sleeping,"
        "   0 stopped,   0 zombie"
    )
    out(
        f"%Cpu(s): {busy * 0.75:4.1f} us, {busy * 0.2:4.1f} sy,  0.0 ni, {100 - busy:4.1f} id, "
        f"{busy * 0.05:4.1f} wa,  0.0 hi,  0.0 si,  0.0 st"
    )
    out(
        f"MiB Mem : {m.total / mib:8.1f} total, {m.free / mib:8.1f} free, "
        f"{(m.total - m.free - m.cache) / mib:8.1f} used, {m.cache / mib:8.1f} buff/cache"
    )
    out(
        "MiB Swap:      0.0 total,      0.0 free,      0.0 used. "
        f"{m.available / mib:8.1f} avail Mem"
    )
    out()
    out(
        f"{'PID':>7} {'USER':<9} {'PR':>3} {'NI':>3} {'VIRT':>7} {'RES':>6} {'SHR':>6} S  %CPU  "
        "%MEM     TIME+ COMMAND"
    )
    total_kb = m.total / 1024
    for p in procs:
        cpu_time = (now - p["start"]) * p.get("cpu", 0.0) + 0.3
        minutes, secs = divmod(cpu_time, 60)
        state_letter = "R" if p.get("cpu", 0) > 0.5 else "S"
        out(
            f"{p['pid']:>7} {p['user'][:8]:<9} {20:>3} {0:>3} {p['vsz']:>7} {p['rss']:>6} "
            f"{p['rss'] // 8:>6} {state_letter} {min(99.9, p.get('cpu', 0) * 100):5.1f} "
            f"{p['rss'] * 100 / total_kb:5.1f} {int(minutes):>4}:{secs:05.2f} {p['comm']}"
        )
    return 0


# ----- accounts --------------------------------------------------------------------------------


def _groups_of(state: dict, user: str) -> list[tuple[int, str]]:
    account = state["accounts"][user]
    found = [
        (g["gid"], name)
        for name, g in state["groups"].items()
        if user in g["members"] or g["gid"] == account["gid"]
    ]
    primary = [x for x in found if x[0] == account["gid"]]
    return primary + sorted(x for x in found if x[0] != account["gid"])


def cmd_id(session: Session, args: list[str]) -> int:
    state = session.host.read()
    flags = "".join(a.lstrip("-") for a in args if a.startswith("-"))
    names = [a for a in args if not a.startswith("-")]
    user = names[0] if names else session.user
    if user not in state["accounts"]:
        err(f"id: ‘{user}’: no such user")
        return 1
    account = state["accounts"][user]
    groups = _groups_of(state, user)
    by_gid = {g["gid"]: n for n, g in state["groups"].items()}
    if "u" in flags:
        out(user if "n" in flags else str(account["uid"]))
    elif "g" in flags and "G" not in flags:
        out(
            by_gid.get(account["gid"], str(account["gid"])) if "n" in flags else str(account["gid"])
        )
    elif "G" in flags:
        out(" ".join(name if "n" in flags else str(gid) for gid, name in groups))
    else:
        primary = by_gid.get(account["gid"], str(account["gid"]))
        listed = ",".join(f"{gid}({name})" for gid, name in groups)
        out(f"uid={account['uid']}({user}) gid={account['gid']}({primary}) groups={listed}")
    return 0


def cmd_whoami(session: Session, args: list[str]) -> int:
    out(session.user)
    return 0


def cmd_groups(session: Session, args: list[str]) -> int:
    state = session.host.read()
    user = args[0] if args else session.user
    if user not in state["accounts"]:
        err(f"groups: ‘{user}’: no such user")
        return 1
    names = " ".join(n for _, n in _groups_of(state, user))
    out(f"{user} : {names}" if args else names)
    return 0


def cmd_usermod(session: Session, args: list[str]) -> int:
    append = False
    groups: list[str] | None = None
    user = None
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-a", "--append"):
            append = True
        elif a in ("-G", "--groups") and i + 1 < len(args):
            groups = args[i + 1].split(",")
            i += 1
        elif re.fullmatch(r"-a?G", a) or a == "-aG":
            append = append or "a" in a
            groups = args[i + 1].split(",") if i + 1 < len(args) else []
            i += 1
        elif not a.startswith("-"):
            user = a
        i += 1
    with session.host.locked() as state:
        if not session.is_root(state):
            err("usermod: Permission denied.\nusermod: cannot lock /etc/passwd; try again later.")
            return 1
        if user is None or groups is None:
            err("Usage: usermod [options] LOGIN")
            return 2
        if user not in state["accounts"]:
            err(f"usermod: user '{user}' does not exist")
            return 6
        for g in groups:
            if g not in state["groups"]:
                err(f"usermod: group '{g}' does not exist")
                return 6
        if not append:
            for record in state["groups"].values():
                if user in record["members"]:
                    record["members"].remove(user)
        for g in groups:
            if user not in state["groups"][g]["members"]:
                state["groups"][g]["members"].append(user)
    return 0


def cmd_gpasswd(session: Session, args: list[str]) -> int:
    if len(args) != 3 or args[0] not in ("-a", "-d", "--add", "--delete"):
        err("Usage: gpasswd [option] GROUP")
        return 2
    verb, user, group = args
    with session.host.locked() as state:
        if not session.is_root(state):
            err("gpasswd: Permission denied.")
            return 1
        if group not in state["groups"]:
            err(f"gpasswd: group '{group}' does not exist in /etc/group")
            return 3
        if user not in state["accounts"]:
            err(f"gpasswd: user '{user}' does not exist")
            return 3
        members = state["groups"][group]["members"]
        if verb in ("-a", "--add"):
            out(f"Adding user {user} to group {group}")
            if user not in members:
                members.append(user)
        else:
            if user not in members:
                err(f"gpasswd: user '{user}' is not a member of '{group}'")
                return 3
            out(f"Removing user {user} from group {group}")
            members.remove(user)
    return 0


def cmd_getent(session: Session, args: list[str]) -> int:
    from lab.hostcmd.network import resolve

    if not args:
        err("Usage: getent [OPTION...] database [key ...]")
        return 1
    database, keys = args[0], args[1:]
    state = session.host.read()
    if database == "passwd":
        rows = {
            n: f"{n}:x:{a['uid']}:{a['gid']}::{a['home']}:{a['shell']}"
            for n, a in state["accounts"].items()
        }
    elif database == "group":
        rows = {n: f"{n}:x:{g['gid']}:{','.join(g['members'])}" for n, g in state["groups"].items()}
    elif database in ("hosts", "ahosts", "ahostsv4"):
        code = 0
        for key in keys:
            address = resolve(state, key)
            if address is None:
                code = 2
                continue
            if database == "hosts":
                out(f"{address:<15} {key}")
            else:
                for kind in ("STREAM", "DGRAM", "RAW"):
                    out(f"{address:<15} {kind} {key if kind == 'STREAM' else ''}".rstrip())
        return code
    else:
        err(
            f"Unknown database: {database}\nTry `getent --help' or `getent --usage' for more "
            "information."
        )
        return 1
    if not keys:
        for line in rows.values():
            out(line)
        return 0
    code = 0
    for key in keys:
        line = rows.get(key) or next((r for r in rows.values() if r.split(":")[2] == key), None)
        if line is None:
            code = 2
        else:
            out(line)
    return code


# ----- sudo ------------------------------------------------------------------------------------


def cmd_sudo(session: Session, args: list[str]) -> int:
    state = session.host.read()
    target = "root"
    non_interactive = False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if a in ("-u", "--user") and i + 1 < len(args):
            target = args[i + 1]
            i += 2
            continue
        if a.startswith("--user="):
            target = a.split("=", 1)[1]
        elif a in ("-n", "--non-interactive"):
            non_interactive = True
        elif a in ("-l", "--list"):
            out(f"User {session.user} may run the following commands on {state['name']}:")
            out(
                "    (ALL : ALL) NOPASSWD: ALL"
                if not state.get("sudo_password")
                else "    (ALL : ALL) ALL"
            )
            return 0
        elif a.startswith("-") and len(a) > 1:
            flags = a[1:]
            non_interactive = non_interactive or "n" in flags
            if flags.endswith("u") and i + 1 < len(args):
                target = args[i + 1]
                i += 2
                continue
        else:
            break
        i += 1
    command = args[i:]
    if not command:
        err("usage: sudo -h | -K | -k | -V\nusage: sudo [-AbEHknPS] [-u user] command")
        return 1
    if not session.is_root(state):
        if not session.in_group(state, "sudo"):
            err(f"{session.user} is not in the sudoers file.  This incident will be reported.")
            return 1
    # The no-sudo fault stands for an operator account without a NOPASSWD rule; it applies
    # even when the lab logs in as root (as CI does), where real sudo would not ask.
    if state.get("sudo_password"):
        if not non_interactive:
            err(
                "sudo: a terminal is required to read the password; either use the -S option "
                "to read from standard input or configure an askpass helper"
            )
        err("sudo: a password is required")
        return 1
    if target not in state["accounts"]:
        err(f"sudo: unknown user {target}")
        return 1
    program = command[0]
    found = program if "/" in program else shutil.which(program)
    if not found or not os.path.exists(found):
        err(f"sudo: {program}: command not found")
        return 1
    env = dict(os.environ)
    env.update(RUNNERDOC_LAB_USER=target, SUDO_USER=session.user, USER=target, LOGNAME=target)
    sys.stdout.flush()
    os.execve(found, command, env)  # noqa: S606 -- what sudo does
    return 0  # not reached


# ----- date, hostname, uname -------------------------------------------------------------------


def cmd_date(session: Session, args: list[str]) -> int:
    real = real_program("date")
    setting = None
    for n, a in enumerate(args):
        if a in ("-s", "--set") and n + 1 < len(args):
            setting = args[n + 1]
        elif a.startswith("--set="):
            setting = a.split("=", 1)[1]
    if setting is not None:
        parsed = subprocess.run(
            [real, "-u", "-d", setting, "+%s.%N"], capture_output=True, text=True
        )
        if parsed.returncode != 0:
            err(parsed.stderr.strip() or f"date: invalid date ‘{setting}’")
            return 1
        with session.host.locked() as state:
            if not session.is_root(state):
                err("date: cannot set date: Operation not permitted")
                out(date_default(float(parsed.stdout)))
                return 1
            state["clock"]["offset"] = float(parsed.stdout) - time.time()
            state["clock"]["synced"] = False
        out(date_default(float(parsed.stdout)))
        return 0
    if any(
        a in ("-d", "--date", "-r", "--reference", "-f", "--file")
        or a.startswith(("--date=", "--reference=", "--file="))
        for a in args
    ):
        os.execv(real, ["date", *args])  # noqa: S606 -- the real date
    state = session.host.read()
    now = session.host.now(state)
    env = {**os.environ, "TZ": "UTC"}
    os.execve(real, ["date", "-d", f"@{now:.6f}", *args], env)  # noqa: S606 -- the real date
    return 0  # not reached


def cmd_hostname(session: Session, args: list[str]) -> int:
    if any(a in ("-i", "-I", "--ip-address", "--all-ip-addresses") for a in args):
        out("127.0.1.1")
    else:
        out(session.host.name)
    return 0


def cmd_uname(session: Session, args: list[str]) -> int:
    result = subprocess.run([real_program("uname"), *args], capture_output=True, text=True)
    node = os.uname().nodename
    text = result.stdout
    if args and any("n" in a or "a" in a for a in args if a.startswith("-")):
        text = re.sub(rf"(?<!\S){re.escape(node)}(?!\S)", session.host.name, text)
    sys.stdout.write(text)
    sys.stderr.write(result.stderr)
    return result.returncode
