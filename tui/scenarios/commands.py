"""`runnerdoc scenario list|run`: show the failure scenarios, print their plans, or run them
live against the lab (or, after a confirmation, against one runner of a real fleet)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tui.text import one_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _err(message: str) -> None:
    print(f"runnerdoc scenario: {one_line(message)}", file=sys.stderr)


def cmd_list(args: argparse.Namespace) -> int:
    from tui.scenarios.definitions import SCENARIOS

    if args.json:
        data = [
            {
                "name": s.name,
                "title": s.title,
                "summary": s.summary,
                "story": s.story,
                "faults": list(s.faults),
                "lab_only": s.lab_only or None,
                "undo": s.undo,
                "steps": [{"title": t, "asserts": a, "deadline": d} for t, a, d in s.plan()],
            }
            for s in SCENARIOS.values()
        ]
        print(json.dumps(data, indent=2, ensure_ascii=True))
        return EXIT_OK
    width = max(len(n) for n in SCENARIOS)
    for s in SCENARIOS.values():
        where = "  (lab only)" if s.lab_only else ""
        print(f"{s.name:<{width}}  {s.title}{where}")
    return EXIT_OK


def _chosen(args: argparse.Namespace):
    from tui.scenarios.definitions import SCENARIOS

    if args.all == bool(args.names):
        _err("name one or more scenarios, or --all (runnerdoc scenario list)")
        return None
    unknown = [n for n in args.names if n not in SCENARIOS]
    if unknown:
        _err(f"no scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
        return None
    return list(SCENARIOS.values()) if args.all else [SCENARIOS[n] for n in args.names]


def print_plan(scenarios) -> None:
    """Each scenario's steps and what each asserts; runs nothing, reads nothing."""
    for scenario in scenarios:
        print(f"{scenario.name}: {scenario.title}")
        if scenario.lab_only:
            print(f"  (lab only: {scenario.lab_only})")
        for n, (title, asserts, deadline) in enumerate(scenario.plan(), start=1):
            print(f"  {n}. {title}  [deadline {deadline:g} s]")
            print(f"     asserts: {asserts}")
        print(f"  finally, whatever happened: {scenario.undo}")
        print()
    print("plan only: nothing was touched. Add --live to run it against the lab.")


def _confirm_real(env, scenarios, yes_really: bool) -> bool:
    faults = sorted({k for s in scenarios for k in s.faults})
    print(
        f"This breaks {env.target} on purpose ({', '.join(faults)}), runs runbooks on it with "
        f"--yes, and restarts it at the end: {env.describe()} ({env.location}).",
        file=sys.stderr,
    )
    if yes_really:
        return True
    if not sys.stdin.isatty():
        _err("a real runner needs a confirmation at a terminal (or --yes-really)")
        return False
    answer = input(f"Type the runner's name ({env.target}) to go on: ").strip()
    if answer != env.target:
        _err("not confirmed: nothing was touched")
        return False
    return True


def _environment(args: argparse.Namespace):
    from tui.scenarios.environment import LabEnvironment, RealEnvironment

    config = getattr(args, "config", None)
    if getattr(args, "lab", False) and args.target:
        _err("--target is for a real fleet (--config FILE); the lab picks its own runners")
        return None
    if getattr(args, "lab", False) or (not config and not args.target):
        return LabEnvironment()
    if not config or not args.target:
        _err("a real fleet needs both --config FILE and --target RUNNER")
        return None
    return RealEnvironment(Path(config), args.target)


def _show_step(step) -> None:
    mark = {"passed": "ok", "failed": "FAILED"}.get(step.state, step.state)
    prefix = "cleanup: " if step.cleanup else ""
    print(f"  {prefix}{step.title}: {mark} ({step.seconds:.1f} s)", flush=True)
    if step.state == "failed":
        for line in step.seen.splitlines()[:25]:
            print(f"      {line}", flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    from tui.scenarios.environment import EnvironmentProblem
    from tui.scenarios.reports import write_reports
    from tui.scenarios.runner import FAILED, SKIPPED, run_all

    scenarios = _chosen(args)
    if scenarios is None:
        return EXIT_USAGE
    if not args.live:
        if args.report:
            _err("--report needs --live: a plan runs nothing, so there is nothing to report")
            return EXIT_USAGE
        print_plan(scenarios)
        return EXIT_OK
    try:
        env = _environment(args)
    except EnvironmentProblem as e:
        _err(str(e))
        return EXIT_USAGE
    if env is None:
        return EXIT_USAGE
    if env.kind == "real":
        refused = [s.name for s in scenarios if s.cannot_run(env)]
        if refused and not args.all:
            why = "; ".join(s.cannot_run(env) for s in scenarios if s.cannot_run(env))
            _err(f"{', '.join(refused)} cannot run on a real fleet: {why}")
            return EXIT_USAGE
        runnable = [s for s in scenarios if not s.cannot_run(env)]
        if not _confirm_real(env, runnable, args.yes_really):
            return EXIT_USAGE
    print(
        f"running {len(scenarios)} scenario(s) against {env.describe()} ({env.location})",
        flush=True,
    )
    try:
        run = run_all(
            scenarios,
            env,
            on_start=lambda s: print(f"\n{s.name}: {s.title}", flush=True),
            on_step=_show_step,
            on_scenario=lambda o: print(
                f"=> {o.name}: {o.state.upper() if o.state == FAILED else o.state} "
                f"({o.seconds:.1f} s)" + (f": {one_line(o.reason)}" if o.reason else ""),
                flush=True,
            ),
        )
    finally:
        env.close()
    results = run.as_json()
    if args.report:
        for path in write_reports(results, Path(args.report)):
            print(f"wrote {path}")
    counts = {state: sum(1 for s in run.scenarios if s.state == state)
              for state in ("passed", FAILED, SKIPPED)}  # fmt: skip
    print(
        f"\n{counts['passed']} passed, {counts[FAILED]} failed, {counts[SKIPPED]} skipped "
        f"in {run.seconds:.1f} s"
    )
    return EXIT_OK if run.ok else EXIT_FAILED


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add `scenario list` and `scenario run`; `common` carries --config/--lab/scope."""
    sc = sub.add_parser("scenario", help="failure scenarios: break, detect, fix, and time it")
    sc_sub = sc.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sc_sub.add_parser("list", help="the scenarios")
    p.add_argument("--json", action="store_true", help="print JSON, with every step")
    p.set_defaults(func=cmd_list)
    p = sc_sub.add_parser(
        "run",
        parents=[common],
        help="print a scenario's plan, or run it with --live",
        description=(
            "Without --live: print each step and what it asserts, touching nothing. With "
            "--live: run against the running lab (--lab, the default), or against one runner "
            "of a real fleet with --config FILE --target RUNNER after a confirmation. Exit 0 "
            "when every scenario passed, 1 when one failed, 2 for bad usage."
        ),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="scenario(s) to run")
    p.add_argument("--all", action="store_true", help="every scenario")
    p.add_argument("--live", action="store_true", help="run it (without: print the plan)")
    p.add_argument("--report", metavar="DIR", help="write results.json, report.md, junit.xml")
    p.add_argument("--target", metavar="RUNNER", help="the real runner to break (with --config)")
    p.add_argument(
        "--yes-really", action="store_true",
        help="break a real runner without asking (for a runner kept for this)",
    )  # fmt: skip
    p.set_defaults(func=cmd_run)
