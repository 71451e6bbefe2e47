"""`runnerdoc lab ...`: start, inspect, break and stop the local staging fleet.

up [--runners N | --fleet FILE] [--job-interval S] [--no-exporter]
                       start the lab (again: shows the running one)
down                   stop every process of the lab
status [--json]        each service with its URL and state, each runner with its SSH address
fault RUNNER KIND      break a runner (kinds: lab fault --help)
heal RUNNER|--all      reset runners to healthy (for tests and demos, not a remediation)
ssh RUNNER [COMMAND]   open a session on a lab host, as the lab's ssh_config says
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from lab import processes
from lab.config import LabLayout, LabPlan, RunnerPlan, read_lab_state, write_lab_state
from lab.faults import KINDS, FaultError, LabAccess, heal, inject
from lab.github_sim import READ_ONLY_LABELS, generate_fleet, load_fleet
from lab.host.state import HostError, RunnerHost
from lab.services import ServiceError, binary

RUNNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
READY_PATHS = {
    "github": "/rate_limit",
    "prometheus": "/-/ready",
    "alertmanager": "/-/ready",
    "pushgateway": "/-/ready",
    "loki": "/ready",
    "sink": "/-/ready",
    "metrics": "/",
    "exporter": "/metrics",
}
NEEDED = ("prometheus", "prometheus-alertmanager", "prometheus-pushgateway", "sshd")


def _layout() -> LabLayout:
    from tui.config import lab_dir

    return LabLayout(lab_dir().resolve() if lab_dir().exists() else lab_dir())


def _supervisor_alive(state: dict[str, Any] | None) -> bool:
    if not state:
        return False
    sup = state.get("supervisor") or {}
    return bool(sup.get("pid")) and processes.alive(int(sup["pid"]), sup.get("start"))


# ----- up ----------------------------------------------------------------------------------------


def _fleet(args: argparse.Namespace) -> list[RunnerPlan]:
    if args.fleet:
        raw = load_fleet(Path(args.fleet))
    else:
        raw = generate_fleet(args.runners)
    read_only = {label.lower() for label in READ_ONLY_LABELS}
    plans = []
    for runner in raw:
        name = str(runner.get("name", ""))
        if not RUNNER_NAME.fullmatch(name):
            raise ValueError(f"runner name {name!r} is not a valid runner name")
        labels = [
            (label if isinstance(label, str) else str(label.get("name", "")))
            for label in runner.get("labels", [])
        ]
        plans.append(RunnerPlan(name, [x for x in labels if x and x.lower() not in read_only]))
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise ValueError("runner names in the fleet must be unique")
    if not plans:
        raise ValueError("a lab needs at least one runner")
    return plans


def cmd_up(args: argparse.Namespace) -> int:
    layout = _layout()
    state = read_lab_state(layout)
    if state and state.get("state") in ("starting", "running") and _supervisor_alive(state):
        if state["state"] == "starting":
            state = _wait_ready(layout, None, 120)
        print(f"the lab is already running in {layout.root}")
        _print_where(layout, state or {})
        return 0
    if state and state.get("state") in ("starting", "running"):
        # A lab whose supervisor died: clear away what is left of it first.
        _stop(layout, state, quiet=True)
    try:
        for name in NEEDED:
            binary(name)
        runners = _fleet(args)
    except (ServiceError, ValueError, OSError) as e:
        print(f"runnerdoc lab: {e}", file=sys.stderr)
        return 1
    layout.root.mkdir(parents=True, exist_ok=True)
    for name in LabLayout.OWNED:
        path = layout.root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    me = pwd.getpwuid(os.getuid())
    plan = LabPlan(
        org=args.org,
        token="ghp_" + secrets.token_urlsafe(27),
        runners=runners,
        python=sys.executable,
        login_user=me.pw_name,
        login_uid=me.pw_uid,
        login_gid=me.pw_gid,
        job_interval=args.job_interval,
        exporter=not args.no_exporter,
    )
    plan.save(layout.plan_json)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_SERVER_URL")
    }
    started = time.monotonic()
    with layout.supervisor_log.open("ab") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "lab.supervisor", str(layout.root)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=layout.root,
            env=env,
            start_new_session=True,  # its own session: a Ctrl-C here does not stop it
        )
    state = _wait_ready(layout, supervisor, args.timeout or 60 + 1.0 * len(runners))
    if not state or state.get("state") != "running":
        error = (state or {}).get("error") or "the lab did not start in time"
        print(f"runnerdoc lab: {error} (log: {layout.supervisor_log})", file=sys.stderr)
        _stop(layout, state or {"supervisor": {"pid": supervisor.pid, "start": None}}, quiet=True)
        return 1
    print(
        f"lab running in {layout.root} ({len(runners)} runners, {time.monotonic() - started:.1f} s)"
    )
    _print_where(layout, state)
    for warning in state.get("warnings", []):
        print(f"note: {warning}")
    return 0


def _wait_ready(
    layout: LabLayout, supervisor: subprocess.Popen[bytes] | None, timeout: float
) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = read_lab_state(layout)
        if state and state.get("state") in ("running", "failed", "stopped"):
            return state
        if supervisor is not None and supervisor.poll() is not None:
            time.sleep(0.2)
            return read_lab_state(layout)
        time.sleep(0.1)
    return state


def _print_where(layout: LabLayout, state: dict[str, Any]) -> None:
    services = state.get("services", {})
    notes = {
        "github": "GitHub API simulator (token in config.toml)",
        "sink": f"Alertmanager's notifications: {layout.sink_file}",
        "metrics": "node_exporter of every host: /hosts/NAME/metrics",
        "loki": "Loki stand-in",
    }
    for name in (
        "github",
        "prometheus",
        "alertmanager",
        "pushgateway",
        "loki",
        "exporter",
        "sink",
        "metrics",
    ):
        if name in services:
            print(f"  {name:<13}{services[name]['url']:<26}{notes.get(name, '')}".rstrip())
    print(f"runners (ssh -F {layout.ssh / 'config'} NAME, or runnerdoc lab ssh NAME):")
    for runner in state.get("runners", []):
        print(f"  {runner['name']:<20}{runner['ssh']:<18}{runner['runner_root']}")
    print(f"settings: {layout.config_toml} (runnerdoc --lab ...)")


# ----- down --------------------------------------------------------------------------------------


def _recorded(state: dict[str, Any]) -> list[tuple[str, int, int | None]]:
    found = []
    for name, service in (state.get("services") or {}).items():
        if service.get("kind") == "process":
            found.append((name, int(service["pid"]), service.get("start")))
    for runner in state.get("runners") or []:
        sshd = runner.get("sshd") or {}
        if sshd.get("pid"):
            found.append((f"sshd:{runner['name']}", int(sshd["pid"]), sshd.get("start")))
    return found


def _stop(layout: LabLayout, state: dict[str, Any], *, quiet: bool = False) -> int:
    sup = state.get("supervisor") or {}
    ended = 0
    if sup.get("pid") and processes.alive(int(sup["pid"]), sup.get("start")):
        processes.end(int(sup["pid"]), sup.get("start"), group=True, timeout=20)
        ended += 1
    # Backstop: every process the lab recorded, then whatever carries its marker.
    for _name, pid, started in _recorded(state):
        if processes.alive(pid, started):
            processes.end(pid, started, group=True)
            ended += 1
    for pid in processes.marked(layout.root):
        started = processes.start_time(pid)
        if processes.alive(pid, started):
            processes.end(pid, started, group=True)
            ended += 1
    left = [pid for _, pid, started in _recorded(state) if processes.alive(pid, started)]
    left += [p for p in processes.marked(layout.root) if not processes.is_zombie(p)]
    if sup.get("pid") and processes.alive(int(sup["pid"]), sup.get("start")):
        left.append(int(sup["pid"]))
    layout.config_toml.unlink(missing_ok=True)
    fresh = read_lab_state(layout) or state
    fresh["state"] = "stopped"
    write_lab_state(layout, fresh)
    if not quiet:
        if left:
            print(
                f"runnerdoc lab: still running: {', '.join(map(str, sorted(set(left))))}",
                file=sys.stderr,
            )
        else:
            print(f"lab stopped; no process of it is left ({layout.root})")
    return 1 if left else 0


def cmd_down(args: argparse.Namespace) -> int:
    layout = _layout()
    state = read_lab_state(layout)
    if state is None:
        print(f"no lab in {layout.root}")
        return 0
    return _stop(layout, state)


# ----- status ------------------------------------------------------------------------------------


def _probe(url: str) -> str:
    try:
        return "up" if httpx.get(url, timeout=2).status_code == 200 else "down"
    except httpx.HTTPError:
        return "down"


def status_report(layout: LabLayout) -> dict[str, Any]:
    """What `lab status --json` prints: services with URL and state, runners with SSH address."""
    state = read_lab_state(layout)
    if state is None:
        return {"state": "absent", "folder": str(layout.root), "services": {}, "runners": []}
    running = state.get("state") == "running" and _supervisor_alive(state)
    services = state.get("services") or {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        probes = (
            {
                name: pool.submit(_probe, s["url"] + READY_PATHS.get(name, "/"))
                for name, s in services.items()
            }
            if running
            else {}
        )
        report_services = {
            name: {
                "url": s["url"],
                "state": probes[name].result() if running else "down",
                "pid": s.get("pid"),
                "kind": s.get("kind"),
            }
            for name, s in services.items()
        }
    github: dict[str, dict[str, Any]] = {}
    if running and "github" in services:
        try:
            sim_state = httpx.get(services["github"]["url"] + "/_sim/state", timeout=3).json()
            for fleet in sim_state["runners"].values():
                for r in fleet:
                    github[r["name"]] = r
        except (httpx.HTTPError, ValueError, KeyError):
            pass
    runners = []
    for runner in state.get("runners") or []:
        entry: dict[str, Any] = {
            "name": runner["name"],
            "ssh": runner["ssh"],
            "ssh_port": runner["ssh_port"],
            "runner_root": runner["runner_root"],
            "sshd": "up"
            if running and processes.alive(runner["sshd"]["pid"], runner["sshd"].get("start"))
            else "down",
        }
        try:
            host_state = RunnerHost(Path(runner["host_dir"])).read()
            unit = host_state["units"].get(host_state.get("runner_unit") or "")
            entry["service"] = unit["state"] if unit else "not-installed"
            entry["listener"] = host_state["listener"]["phase"]
            entry["faults"] = list(host_state.get("faults", []))
        except (HostError, OSError, ValueError):
            entry.update(service="unknown", listener="unknown", faults=[])
        record = github.get(runner["name"])
        entry["github"] = record["status"] if record else ("absent" if running else "unknown")
        entry["busy"] = bool(record and record["busy"])
        entry["version"] = record.get("version") if record else None
        runners.append(entry)
    if running:
        overall = "running"
    elif state.get("state") == "running":
        overall = "broken"  # lab.json says running, but its supervisor is gone
    else:
        overall = state.get("state", "stopped")
    return {
        "state": overall,
        "folder": str(layout.root),
        "config": str(layout.config_toml) if layout.config_toml.exists() else None,
        "services": report_services,
        "runners": runners,
        "warnings": state.get("warnings", []),
    }


def cmd_status(args: argparse.Namespace) -> int:
    layout = _layout()
    report = status_report(layout)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if report["state"] == "running" else 1
    if report["state"] == "absent":
        print(f"no lab in {layout.root}: start one with runnerdoc lab up")
        return 1
    print(f"lab {report['state']} in {report['folder']}")
    for name, s in report["services"].items():
        print(f"  {name:<13}{s['url']:<26}{s['state']}")
    for r in report["runners"]:
        faults = f"  faults: {', '.join(r['faults'])}" if r.get("faults") else ""
        print(
            f"  {r['name']:<20}ssh {r['ssh']:<17} service {r['service']:<9} "
            f"github {r['github']}{' (busy)' if r['busy'] else ''}{faults}"
        )
    return 0 if report["state"] == "running" else 1


# ----- fault, heal, ssh --------------------------------------------------------------------


def cmd_fault(args: argparse.Namespace) -> int:
    try:
        lab = LabAccess(_layout())
        done = inject(lab, args.runner, args.kind)
    except (FaultError, httpx.HTTPError, OSError) as e:
        print(f"runnerdoc lab: {e}", file=sys.stderr)
        return 1
    kind = KINDS[args.kind]
    print(f"{args.runner}: {done}")
    if kind.runbook:
        print(f"runbook: {kind.runbook} (fix: {kind.heals_by})")
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    try:
        lab = LabAccess(_layout())
        if args.all == bool(args.runner):
            print("runnerdoc lab: name one runner, or --all", file=sys.stderr)
            return 2
        names = [r["name"] for r in lab.state["runners"]] if args.all else [args.runner]
        for name in names:
            print(heal(lab, name))
    except (FaultError, httpx.HTTPError, OSError) as e:
        print(f"runnerdoc lab: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_ssh(args: argparse.Namespace) -> int:
    layout = _layout()
    config = layout.ssh / "config"
    if not config.exists():
        print("runnerdoc lab: no lab is running (runnerdoc lab up)", file=sys.stderr)
        return 1
    ssh = shutil.which("ssh")
    if ssh is None:
        print(
            "runnerdoc lab: ssh is not installed: apt-get install -y openssh-client",
            file=sys.stderr,
        )
        return 1
    os.execv(ssh, ["ssh", "-F", str(config), args.runner, *args.command])  # noqa: S606
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runnerdoc lab",
        description="The local staging fleet: real SSH, real Prometheus, "
        "Alertmanager and Pushgateway, a GitHub API simulator, and faults to inject.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the lab (or show the running one)")
    fleet = up.add_mutually_exclusive_group()
    fleet.add_argument("--runners", type=int, default=4, metavar="N", help="runner hosts (4)")
    fleet.add_argument("--fleet", metavar="FILE", help="JSON list of runners in GitHub's shape")
    up.add_argument("--org", default="acme", help="the simulated organisation (acme)")
    up.add_argument(
        "--job-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="mean seconds between jobs on a runner; 0: no jobs (60)",
    )
    up.add_argument("--no-exporter", action="store_true", help="do not run runnerdoc exporter")
    up.add_argument(
        "--timeout",
        type=float,
        default=0,
        metavar="SECONDS",
        help="how long to wait for the lab to start",
    )
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop every process of the lab").set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="services and runners, and their state")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    kinds = "\n".join(f"  {k:<21}{v.summary}" for k, v in KINDS.items())
    fault = sub.add_parser(
        "fault",
        help="break a runner",
        epilog=f"kinds:\n{kinds}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fault.add_argument("runner")
    fault.add_argument("kind", choices=list(KINDS), metavar="KIND")
    fault.set_defaults(func=cmd_fault)
    heal_p = sub.add_parser("heal", help="reset a runner (or --all) to healthy; not a remediation")
    heal_p.add_argument("runner", nargs="?")
    heal_p.add_argument("--all", action="store_true", help="every runner of the lab")
    heal_p.set_defaults(func=cmd_heal)
    ssh = sub.add_parser("ssh", help="a session on a lab host")
    ssh.add_argument("runner")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    ssh.set_defaults(func=cmd_ssh)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
