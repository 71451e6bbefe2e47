"""systemctl, journalctl and timedatectl on a lab host, printing what systemd 252 prints."""

from __future__ import annotations

import re
import sys
import time
from typing import Any

from lab.host import units
from lab.host.state import RunnerHost
from lab.host.timefmt import (
    journal_iso,
    journal_short,
    parse_systemd_time,
    systemd_timestamp,
    timespan,
)
from lab.hostcmd.session import Session, err, out

MUTATING = {
    "start",
    "stop",
    "restart",
    "try-restart",
    "reload-or-restart",
    "kill",
    "reset-failed",
    "enable",
    "disable",
    "daemon-reload",
    "mask",
    "unmask",
}
DOTS = {"active": "●", "failed": "×", "inactive": "○", "activating": "●"}
PRIORITIES = {
    "emerg": 0,
    "alert": 1,
    "crit": 2,
    "err": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}


def _auth_failure(verb: str, names: list[str]) -> int:
    target = names[0] if names else ""
    what = {"daemon-reload": "reload daemon"}.get(verb, f"{verb} {target}".strip())
    err(f"Failed to {what}: Interactive authentication required.")
    if target:
        err(f"See system logs and 'systemctl status {target}' for details.")
    return 1


# ----- systemctl ---------------------------------------------------------------------------------


def cmd_systemctl(session: Session, args: list[str]) -> int:
    opts: dict[str, Any] = {
        "props": [],
        "value": False,
        "quiet": False,
        "lines": 10,
        "signal": "SIGTERM",
        "now": False,
        "type": None,
        "state": None,
    }
    words: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-p", "--property") and i + 1 < len(args):
            opts["props"] += args[i + 1].split(",")
            i += 2
            continue
        if a.startswith("--property="):
            opts["props"] += a.split("=", 1)[1].split(",")
        elif a.startswith("-p") and len(a) > 2:
            opts["props"] += a[2:].split(",")
        elif a == "--value":
            opts["value"] = True
        elif a in ("-q", "--quiet"):
            opts["quiet"] = True
        elif a in ("-n", "--lines") and i + 1 < len(args):
            opts["lines"] = int(args[i + 1])
            i += 2
            continue
        elif a.startswith("--lines="):
            opts["lines"] = int(a.split("=", 1)[1])
        elif a in ("-s", "--signal") and i + 1 < len(args):
            opts["signal"] = args[i + 1]
            i += 2
            continue
        elif a.startswith("--signal="):
            opts["signal"] = a.split("=", 1)[1]
        elif a == "--now":
            opts["now"] = True
        elif a.startswith("--type="):
            opts["type"] = a.split("=", 1)[1]
        elif a.startswith("--state="):
            opts["state"] = a.split("=", 1)[1]
        elif a == "--failed":
            opts["state"] = "failed"
        elif a == "--user":
            err("Failed to connect to bus: No medium found")
            return 1
        elif a.startswith("-"):
            pass  # --no-pager, --full, --no-legend, --plain, -l, -a: nothing to page here
        else:
            words.append(a)
        i += 1
    verb = words[0] if words else "list-units"
    names = words[1:]
    if verb in MUTATING:
        with session.host.locked() as state:
            if not session.is_root(state):
                return _auth_failure(verb, names)
            return _mutate(session.host, state, verb, names, opts)
    state = session.host.read()
    if verb == "status":
        return _status(session.host, state, names, opts)
    if verb == "show":
        return _show(session.host, state, names, opts)
    if verb in ("is-active", "is-failed", "is-enabled"):
        return _is(state, verb, names, opts)
    if verb == "list-units":
        return _list_units(state, opts)
    if verb == "cat":
        return _cat(session.host, state, names)
    err(f"Unknown command verb {verb}.")
    return 1


def _mutate(host: RunnerHost, state: dict, verb: str, names: list[str], opts: dict) -> int:
    if verb == "daemon-reload":
        return 0
    if not names:
        err("Too few arguments.")
        return 1
    code = 0
    for raw in names:
        name = units.unit_name(raw)
        try:
            if verb == "start":
                units.start_unit(host, state, name)
            elif verb == "stop":
                units.stop_unit(host, state, name)
            elif verb in ("restart", "reload-or-restart"):
                units.restart_unit(host, state, name)
            elif verb == "try-restart":
                unit = units.get_unit(state, name)
                if unit and unit["state"] == "active":
                    units.restart_unit(host, state, name)
            elif verb == "kill":
                units.kill_unit(host, state, name, opts["signal"])
            elif verb == "reset-failed":
                units.reset_failed(state, name)
            elif verb in ("enable", "disable"):
                code = max(code, _enable(host, state, name, verb == "enable", opts["now"]))
            else:
                err(f"Failed to {verb} {name}: Access denied")
                code = 1
        except units.UnitError as e:
            err(str(e))
            code = max(code, 1 if e.code != 5 else 5)
    return code


def _enable(host: RunnerHost, state: dict, name: str, enable: bool, now: bool) -> int:
    unit = state["units"].get(name)
    if unit is None:
        err(f"Failed to {'enable' if enable else 'disable'} unit: Unit file {name} does not exist.")
        return 1
    wants = f"/etc/systemd/system/multi-user.target.wants/{name}"
    if enable and not unit["enabled"]:
        out(f"Created symlink {wants} → {unit['fragment']}.")
    elif not enable and unit["enabled"]:
        out(f'Removed "{wants}".')
    unit["enabled"] = enable
    if now:
        (units.start_unit if enable else units.stop_unit)(host, state, name)
    return 0


def _active_line(unit: dict, now: float) -> str:
    s = unit["state"]
    if s == "active":
        since = unit["active_enter"]
        return (
            f"active ({unit['sub']}) since {systemd_timestamp(since)}; {timespan(now - since)} ago"
        )
    if s == "failed":
        since = unit["inactive_enter"]
        return (
            f"failed (Result: {unit['result']}) since {systemd_timestamp(since)}; "
            f"{timespan(now - since)} ago"
        )
    if unit.get("inactive_enter"):
        since = unit["inactive_enter"]
        return f"inactive (dead) since {systemd_timestamp(since)}; {timespan(now - since)} ago"
    return "inactive (dead)"


def _exit_text(unit: dict) -> str:
    if unit.get("exec_main_code") in ("killed", "dumped"):
        names = {9: "KILL", 15: "TERM", 6: "ABRT", 11: "SEGV"}
        signal = names.get(unit["exec_main_status"], unit["exec_main_status"])
        return f"code={unit['exec_main_code']}, signal={signal}"
    status = unit.get("exec_main_status", 0)
    label = "SUCCESS" if status == 0 else "FAILURE"
    return f"code=exited, status={status}/{label}"


def _status(host: RunnerHost, state: dict, names: list[str], opts: dict) -> int:
    now = host.now(state)
    if not names:
        names = [state.get("runner_unit") or "docker.service"]
    code = 0
    journal = host.journal() if opts["lines"] > 0 else []
    for index, raw in enumerate(names):
        name = units.unit_name(raw)
        unit = state["units"].get(name)
        if index:
            out()
        if unit is None:
            err(f"Unit {name} could not be found.")
            code = max(code, 4)
            continue
        procs = sorted((p for p in state["processes"] if p["unit"] == name), key=lambda p: p["pid"])
        enabled = "enabled" if unit["enabled"] else "disabled"
        lines = [
            f"{DOTS.get(unit['state'], '○')} {name} - {unit['description']}",
            f"     Loaded: loaded ({unit['fragment']}; {enabled}; preset: enabled)",
            f"     Active: {_active_line(unit, now)}",
        ]
        if unit["state"] == "failed":
            lines.append(
                f"    Process: {unit.get('last_pid') or unit['main_pid'] or 1}"
                f" ExecStart={unit.get('exec_start') or unit['fragment']} ({_exit_text(unit)})"
            )
        if unit["state"] == "active":
            main = RunnerHost.process(state, unit["main_pid"])
            lines.append(f"   Main PID: {unit['main_pid']} ({main['comm'] if main else name})")
        elif unit["state"] == "failed":
            lines.append(f"   Main PID: {unit.get('last_pid') or 1} ({_exit_text(unit)})")
        if procs:
            rss = sum(p["rss"] for p in procs) / 1024
            lines.append(f"      Tasks: {len(procs) * 7} (limit: 18921)")
            lines.append(f"     Memory: {rss:.1f}M")
            lines.append(f"        CPU: {_cpu_text(procs)}")
            lines.append(f"     CGroup: /system.slice/{name}")
            for n, p in enumerate(procs):
                branch = "└─" if n == len(procs) - 1 else "├─"
                lines.append(f"             {branch}{p['pid']} {p['args']}")
        out("\n".join(lines))
        if opts["lines"] > 0:
            tail = [e for e in journal if e["u"] == name][-opts["lines"] :]
            if tail:
                out()
                for e in tail:
                    out(_short(e, state["name"]))
        if unit["state"] != "active":
            code = max(code, 3)
    return code


def _cpu_text(procs: list[dict]) -> str:
    seconds = sum((time.time() - p["start"]) * max(p.get("cpu", 0.0), 0.0004) for p in procs)
    if seconds >= 60:
        return f"{int(seconds // 60)}min {seconds % 60:.3f}s"
    return f"{seconds:.3f}s"


def _properties(host: RunnerHost, state: dict, name: str) -> dict[str, str]:
    unit = state["units"].get(name)
    if unit is None:
        return {
            "Id": name,
            "Names": name,
            "LoadState": "not-found",
            "ActiveState": "inactive",
            "SubState": "dead",
            "UnitFileState": "",
            "MainPID": "0",
            "Result": "success",
            "ActiveEnterTimestamp": "",
            "InvocationID": "",
            "Environment": "",
            "NRestarts": "0",
            "Description": name,
            "FragmentPath": "",
            "LoadError": f'org.freedesktop.systemd1.NoSuchUnit "Unit {name} not found."',
        }

    def stamp(ts: float) -> str:
        return systemd_timestamp(ts) if ts else ""

    return {
        "Type": unit["type"],
        "Restart": "no",
        "MainPID": str(unit["main_pid"]),
        "ExecMainPID": str(unit["main_pid"]),
        "ExecMainCode": {"exited": "1", "killed": "2"}.get(unit.get("exec_main_code", ""), "0"),
        "ExecMainStatus": str(unit.get("exec_main_status", 0)),
        "NRestarts": str(unit.get("restarts", 0)),
        "Environment": unit.get("environment", ""),
        "User": unit.get("user", ""),
        "KillMode": "process" if units.is_runner_unit(state, name) else "control-group",
        "Id": name,
        "Names": name,
        "Description": unit["description"],
        "LoadState": "loaded",
        "ActiveState": unit["state"],
        "SubState": unit["sub"],
        "Result": unit["result"],
        "FragmentPath": unit["fragment"],
        "UnitFileState": "enabled" if unit["enabled"] else "disabled",
        "UnitFilePreset": "enabled",
        "StateChangeTimestamp": stamp(unit.get("state_change", 0)),
        "ActiveEnterTimestamp": stamp(unit.get("active_enter", 0)),
        "ActiveExitTimestamp": stamp(unit.get("inactive_enter", 0)),
        "InactiveEnterTimestamp": stamp(unit.get("inactive_enter", 0)),
        "InvocationID": unit.get("invocation", ""),
    }


def _show(host: RunnerHost, state: dict, names: list[str], opts: dict) -> int:
    if not names:
        names = ["systemd"]
    blocks = []
    for raw in names:
        props = _properties(host, state, units.unit_name(raw))
        wanted = opts["props"] or list(props)
        lines = []
        for key in wanted:
            value = props.get(key, "")
            lines.append(value if opts["value"] else f"{key}={value}")
        blocks.append("\n".join(lines))
    out("\n\n".join(blocks))
    return 0


def _is(state: dict, verb: str, names: list[str], opts: dict) -> int:
    if not names:
        err("Too few arguments.")
        return 1
    hit = False
    for raw in names:
        name = units.unit_name(raw)
        unit = state["units"].get(name)
        if verb == "is-enabled":
            if unit is None:
                if not opts["quiet"]:
                    err(f"Failed to get unit file state for {name}: No such file or directory")
                continue
            word = "enabled" if unit["enabled"] else "disabled"
            hit = hit or unit["enabled"]
        else:
            word = unit["state"] if unit else "inactive"
            hit = hit or word == ("active" if verb == "is-active" else "failed")
        if not opts["quiet"]:
            out(word)
    if verb == "is-enabled":
        return 0 if hit else 1
    return 0 if hit else (3 if verb == "is-active" else 1)


def _list_units(state: dict, opts: dict) -> int:
    rows = []
    for name, unit in sorted(state["units"].items()):
        if opts["state"] and unit["state"] != opts["state"] and unit["sub"] != opts["state"]:
            continue
        if opts["type"] and not name.endswith("." + opts["type"]):
            continue
        rows.append((name, unit))
    width = max([len("UNIT"), *(len(n) for n, _ in rows)])
    out(f"  {'UNIT':<{width}} LOAD   ACTIVE   SUB     DESCRIPTION")
    for name, unit in rows:
        dot = "●" if unit["state"] == "failed" else " "
        out(
            f"{dot} {name:<{width}} loaded {unit['state']:<8} {unit['sub']:<7} "
            f"{unit['description']}"
        )
    out()
    out("LOAD   = Reflects whether the unit definition was properly loaded.")
    out("ACTIVE = The high-level unit activation state, i.e. generalization of SUB.")
    out("SUB    = The low-level unit activation state, values depend on unit type.")
    out(f"{len(rows)} loaded units listed.")
    return 0


def _cat(host: RunnerHost, state: dict, names: list[str]) -> int:
    code = 0
    for raw in names:
        name = units.unit_name(raw)
        unit = state["units"].get(name)
        if unit is None:
            err(f"No files found for {name}.")
            code = 1
            continue
        path = host.fs / unit["fragment"].lstrip("/")
        text = (
            path.read_text()
            if path.exists()
            else (f"[Unit]\nDescription={unit['description']}\n\n[Service]\nType={unit['type']}\n")
        )
        out(f"# {unit['fragment']}")
        out(text.rstrip("\n"))
    return code


# ----- journalctl --------------------------------------------------------------------------------


def _short(entry: dict, hostname: str, iso: bool = False) -> str:
    stamp = journal_iso(entry["t"]) if iso else journal_short(entry["t"])
    ident = (
        entry["i"]
        if entry.get("p") is None or entry["i"] == "kernel"
        else (f"{entry['i']}[{entry['p']}]")
    )
    return f"{stamp} {hostname} {ident}: {entry['m']}"


def cmd_journalctl(session: Session, args: list[str]) -> int:
    unit_names: list[str] = []
    matches: list[tuple[str, str]] = []
    kernel = False
    lines: int | None = None
    output = "short"
    since = until = None
    grep = None
    priority: tuple[int, int] | None = None
    reverse = follow = quiet = False
    vacuum = None
    i = 0

    def value() -> str:
        nonlocal i
        if i + 1 >= len(args):
            err(f"journalctl: option '{args[i]}' requires an argument")
            raise SystemExit(1)
        i += 1
        return args[i]

    while i < len(args):
        a = args[i]
        key, eq, val = a.partition("=")
        if a in ("-u", "--unit"):
            unit_names.append(value())
        elif key == "--unit" and eq:
            unit_names.append(val)
        elif a.startswith("-u") and len(a) > 2 and not a.startswith("--"):
            unit_names.append(a[2:])
        elif a in ("-k", "--dmesg"):
            kernel = True
        elif a in ("-n", "--lines"):
            lines = int(value())
        elif key == "--lines" and eq:
            lines = int(val)
        elif re.fullmatch(r"-n[0-9]+", a):
            lines = int(a[2:])
        elif a in ("-o", "--output"):
            output = value()
        elif key == "--output" and eq:
            output = val
        elif a in ("-S", "--since"):
            since = value()
        elif key == "--since" and eq:
            since = val
        elif a in ("-U", "--until"):
            until = value()
        elif key == "--until" and eq:
            until = val
        elif a in ("-g", "--grep"):
            grep = value()
        elif key == "--grep" and eq:
            grep = val
        elif a in ("-p", "--priority"):
            priority = _priority(value())
        elif key == "--priority" and eq:
            priority = _priority(val)
        elif a in ("-r", "--reverse"):
            reverse = True
        elif a in ("-f", "--follow"):
            follow = True
        elif a in ("-q", "--quiet"):
            quiet = True
        elif key in ("--vacuum-time", "--vacuum-size", "--vacuum-files") and eq:
            vacuum = key
        elif a in ("-e", "--pager-end"):
            lines = 1000 if lines is None else lines
        elif re.fullmatch(r"-[a-zA-Z]+", a) and set(a[1:]) <= set("xbeqrfak"):
            kernel = kernel or "k" in a
            follow = follow or "f" in a
            reverse = reverse or "r" in a
            quiet = quiet or "q" in a
            if "e" in a and lines is None:
                lines = 1000
        elif re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", a):
            matches.append((key, val))
        elif a.startswith("-"):
            pass  # --no-pager, --no-hostname, -b, -x, --utc: nothing to change here
        else:
            err(f'"{a}" is not a valid match: expected FIELD=VALUE')
            return 1
        i += 1
    state = session.host.read()
    if vacuum:
        if not session.is_root(state):
            err("Failed to vacuum: Permission denied")
            return 1
        out(
            "Vacuuming done, freed 0B of archived journals from /var/log/journal/"
            "3a6f1b7c2d8e4f90a1b2c3d4e5f60718."
        )
        return 0
    if not session.is_root(state) and not session.in_group(state, "adm") and not quiet:
        err(
            "Hint: You are currently not seeing messages from other users and the system.\n"
            "      Users in groups 'adm', 'systemd-journal' can see all messages.\n"
            "      Pass -q to turn off this notice."
        )
        entries: list[dict] = []
    else:
        entries = session.host.journal()
    now = session.host.now(state)
    try:
        since_ts = parse_systemd_time(since, now) if since else None
        until_ts = parse_systemd_time(until, now) if until else None
    except ValueError as e:
        err(str(e))
        return 1
    wanted_units = {units.unit_name(u) for u in unit_names}
    invocations = {value for field, value in matches if field == "_SYSTEMD_INVOCATION_ID"}
    pattern = None
    if grep:
        flags = 0 if any(c.isupper() for c in grep) else re.I
        try:
            pattern = re.compile(grep, flags)
        except re.error as e:
            err(f"Failed to compile pattern: {e}")
            return 1

    def keep(e: dict) -> bool:
        if kernel and e["i"] != "kernel":
            return False
        if wanted_units and e["u"] not in wanted_units:
            return False
        if invocations and e.get("inv") not in invocations:
            return False
        for field, value in matches:
            if field == "_SYSTEMD_UNIT" and e["u"] != value:
                return False
            if field == "SYSLOG_IDENTIFIER" and e["i"] != value:
                return False
        if since_ts is not None and e["t"] < int(since_ts):
            return False
        if until_ts is not None and e["t"] > until_ts:
            return False
        if priority is not None and not priority[0] <= e.get("pr", 6) <= priority[1]:
            return False
        return not (pattern and not pattern.search(e["m"]))

    chosen = [e for e in entries if keep(e)]
    if lines is not None:
        chosen = chosen[-lines:] if lines > 0 else []
    elif follow:
        chosen = chosen[-10:]
    if reverse:
        chosen.reverse()
    hostname = state["name"]
    write = _formatter(output, hostname)
    if write is None:
        err(f"Unknown output format '{output}'.")
        return 1
    for e in chosen:
        out(write(e))
    if not chosen and not follow and not quiet:
        out("-- No entries --")
    if follow:
        return _follow(session, keep, write, len(entries))
    return 0


def _formatter(output: str, hostname: str):
    import json

    if output == "cat":
        return lambda e: e["m"]
    if output in ("short", "short-precise", "short-full"):
        return lambda e: _short(e, hostname)
    if output == "short-iso":
        return lambda e: _short(e, hostname, iso=True)
    if output in ("json", "json-pretty"):
        return lambda e: json.dumps(
            {
                "__REALTIME_TIMESTAMP": str(int(e["t"] * 1e6)),
                "_HOSTNAME": hostname,
                "SYSLOG_IDENTIFIER": e["i"],
                "_PID": str(e.get("p") or ""),
                "MESSAGE": e["m"],
                "PRIORITY": str(e.get("pr", 6)),
                "_SYSTEMD_UNIT": e["u"],
                "_SYSTEMD_INVOCATION_ID": e.get("inv", ""),
            },
            indent=4 if output == "json-pretty" else None,
        )
    return None


def _follow(session: Session, keep, write, seen: int) -> int:
    try:
        while True:
            time.sleep(0.5)
            entries = session.host.journal()
            for e in entries[seen:]:
                if keep(e):
                    out(write(e))
                    sys.stdout.flush()
            seen = len(entries)
    except KeyboardInterrupt:
        return 0


def _priority(text: str) -> tuple[int, int]:
    def one(word: str) -> int:
        if word.isdigit():
            return int(word)
        if word not in PRIORITIES:
            err(f"Unknown log level {word}")
            raise SystemExit(1)
        return PRIORITIES[word]

    if ".." in text:
        low, high = text.split("..", 1)
        return one(low), one(high)
    return 0, one(text)


# ----- timedatectl -------------------------------------------------------------------------------


def cmd_timedatectl(session: Session, args: list[str]) -> int:
    words = [a for a in args if not a.startswith("-")]
    props: list[str] = []
    value_only = False
    i = 0
    while i < len(args):
        if args[i] in ("-p", "--property") and i + 1 < len(args):
            props += args[i + 1].split(",")
            words.remove(args[i + 1]) if args[i + 1] in words else None
            i += 2
            continue
        if args[i].startswith("--property="):
            props += args[i].split("=", 1)[1].split(",")
        if args[i] == "--value":
            value_only = True
        i += 1
    verb = words[0] if words else "status"
    if verb == "set-ntp":
        if len(words) < 2 or words[1] not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            err("Failed to parse NTP setting: missing or invalid argument")
            return 1
        on = words[1] in ("true", "yes", "1", "on")
        with session.host.locked() as state:
            if not session.is_root(state):
                err("Failed to set ntp: Interactive authentication required.")
                return 1
            name = "systemd-timesyncd.service"
            state["units"][name]["enabled"] = on
            if on:
                units.start_unit(session.host, state, name)
            else:
                units.stop_unit(session.host, state, name)
        return 0
    if verb == "set-time":
        err(
            "Failed to set time: Automatic time synchronization is enabled"
            if session.host.read()["units"]["systemd-timesyncd.service"]["enabled"]
            else "Failed to set time: use date -s on this lab host"
        )
        return 1
    state = session.host.read()
    now = session.host.now(state)
    timesyncd = state["units"]["systemd-timesyncd.service"]
    synced = "yes" if state["clock"]["synced"] else "no"
    if verb == "status":
        stamp = systemd_timestamp(now)
        out(
            f"               Local time: {stamp}\n"
            f"           Universal time: {stamp}\n"
            f"                 RTC time: {stamp[4:-4]}\n"
            "                Time zone: Etc/UTC (UTC, +0000)\n"
            f"System clock synchronized: {synced}\n"
            f"              NTP service: {'active' if timesyncd['state'] == 'active' else 'inactive'}\n"  # noqa: E501
            "          RTC in local TZ: no"
        )
        return 0
    if verb == "show":
        values = {
            "Timezone": "Etc/UTC",
            "LocalRTC": "no",
            "CanNTP": "yes",
            "NTP": "yes" if timesyncd["enabled"] else "no",
            "NTPSynchronized": synced,
            "TimeUSec": systemd_timestamp(now),
            "RTCTimeUSec": systemd_timestamp(now),
        }
        for key in props or list(values):
            out(values.get(key, "") if value_only else f"{key}={values.get(key, '')}")
        return 0
    if verb in ("timesync-status", "show-timesync"):
        if timesyncd["state"] != "active":
            err("Failed to query server: Unit dbus-org.freedesktop.timesync1.service not found.")
            return 1
        out(
            "       Server: 185.125.190.56 (ntp.ubuntu.com)\n"
            "Poll interval: 32s (min: 32s; max 34min 8s)"
        )
        out(f"       Offset: {-state['clock']['offset'] * 1000:+.3f}ms")
        return 0
    err(f"Unknown command verb {verb}.")
    return 1
