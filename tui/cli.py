"""`runnerdoc` command line: subcommands, exit codes and `--json` output.

Exit codes: 0 fine, 1 the thing checked is unhealthy or invalid (lint problems,
a failed step), 2 bad usage or input that cannot be used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tui.runbooks.problems import ContentError
from tui.text import one_line

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _params(pairs: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"runnerdoc: --param {pair!r} must look like name=value")
        values[name] = value
    return values


def _print_json(data: object) -> None:
    # ensure_ascii keeps control characters from outside text escaped in the JSON.
    print(json.dumps(data, indent=2, ensure_ascii=True))


def settings_from(args: argparse.Namespace):
    """Settings for this command: --lab, --config, scope flags and --read-only applied."""
    from tui.config import lab_config_path, lab_env, load_settings

    lab = getattr(args, "lab", False)
    return load_settings(
        lab_config_path() if lab else getattr(args, "config", None),
        env=lab_env() if lab else None,
        org=getattr(args, "org", None),
        repo=getattr(args, "repo", None),
        enterprise=getattr(args, "enterprise", None),
        read_only=True if getattr(args, "read_only", False) else None,
    )


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


# --- status ----------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    import asyncio

    from tui.sources.fleet import FleetCollector, clients_from_settings

    settings = settings_from(args)
    if settings.scope is None:
        print(
            "runnerdoc: whose runners? give --org ORG, --repo OWNER/REPO or --enterprise SLUG,"
            " or set github.org in the config file",
            file=sys.stderr,
        )
        return EXIT_USAGE

    async def collect():
        clients = clients_from_settings(settings)
        try:
            return await FleetCollector(
                clients, host_label=settings.host_label, queued_repos=settings.queued_repos
            ).refresh()
        finally:
            await clients.aclose()

    snap = asyncio.run(collect())
    github = snap.source("github")
    if args.json:
        _print_json(
            {
                "taken_at": snap.taken_at,
                "scope": str(settings.scope),
                "queued_jobs": snap.queued_jobs,
                "runners": [
                    {
                        "name": r.name,
                        "id": r.runner.id,
                        "state": r.state.value,
                        "pool": r.pool,
                        "labels": list(r.runner.labels),
                        "version": r.runner.version,
                        "os": r.runner.os,
                        "health": None
                        if r.health is None
                        else {
                            "cpu_busy": r.health.cpu_busy,
                            "memory_used": r.health.memory_used,
                            "disk_used": r.health.disk_used,
                            "inodes_free": r.health.inodes_free,
                            "service_active": r.health.service_active,
                            "clock_offset": r.health.clock_offset,
                        },
                        "alerts": [
                            {"name": a.name, "severity": a.severity, "runbook_url": a.runbook_url}
                            for a in r.alerts
                        ],
                    }
                    for r in snap.rows
                ],
                "sources": [
                    {
                        "name": s.name,
                        "ok": s.ok,
                        "configured": s.configured,
                        "error": s.error,
                        "updated_at": s.updated_at,
                    }
                    for s in snap.sources
                ],
                "rate_limit": None
                if snap.rate_limit is None
                else {
                    "limit": snap.rate_limit.limit,
                    "remaining": snap.rate_limit.remaining,
                    "reset": snap.rate_limit.reset,
                },
            }
        )
    else:
        rows = [("RUNNER", "STATE", "POOL", "VERSION", "CPU", "MEM", "DISK", "ALERTS")]
        for r in snap.rows:
            h = r.health
            rows.append(
                (
                    one_line(r.name, limit=40),
                    r.state.value,
                    one_line(r.pool, limit=20),
                    one_line(r.runner.version or "–", limit=12),
                    _percent(h.cpu_busy if h else None),
                    _percent(h.memory_used if h else None),
                    _percent(h.disk_used if h else None),
                    one_line(", ".join(a.name for a in r.alerts) or "–", limit=60),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        for s in snap.sources:
            if s.configured and not s.ok:
                print(f"! {s.name}: {s.error}", file=sys.stderr)
    return EXIT_OK if github is not None and github.ok else EXIT_PROBLEMS


# --- exporter --------------------------------------------------------------------------


def _listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} must look like 127.0.0.1:9108")
    return host or "127.0.0.1", int(port)


def cmd_exporter(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from prometheus_client import CollectorRegistry, start_http_server

    from tui.exporter import RunnerExporter, run_forever
    from tui.sources.fleet import clients_from_settings

    settings = settings_from(args)
    if settings.scope is None:
        print("runnerdoc: the exporter needs --org, --repo or --enterprise", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    clients = clients_from_settings(settings)
    assert clients.github is not None
    exporter = RunnerExporter(clients.github, queued_repos=settings.queued_repos)
    registry = CollectorRegistry()
    registry.register(exporter)
    host, port = args.listen
    server, _thread = start_http_server(port, addr=host, registry=registry)
    print(f"runnerdoc exporter for {settings.scope} on http://{host}:{port}/metrics", flush=True)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run_forever(exporter, args.interval, stop, budget_share=args.budget_share)
        finally:
            await clients.aclose()

    try:
        asyncio.run(serve())
    finally:
        server.shutdown()
    return EXIT_OK


# --- diagnose --------------------------------------------------------------------------


def _print_findings(findings, subject: str, runner: str | None, notes=()) -> None:
    if not findings:
        print(f"{subject}: no known problem found")
    else:
        print(f"{subject}: {len(findings)} finding(s), most likely first")
    for n, f in enumerate(findings, start=1):
        step = f", step {f.step}" if f.step else ""
        print(f"{n}. {one_line(f.cause)}  [{f.runbook}, confidence {f.confidence:.2f}{step}]")
        for line in f.evidence:
            print(f"   {one_line(line, limit=160)}")
        target = f" --runner {runner}" if runner else " --runner NAME"
        print(f"   -> runnerdoc runbook run {f.runbook}{target}")
    for note in notes:
        print(f"! {one_line(note)}", file=sys.stderr)


def _findings_json(findings, notes=()) -> dict:
    return {
        "findings": [
            {
                "cause": f.cause,
                "runbook": f.runbook,
                "step": f.step,
                "confidence": f.confidence,
                "severity": f.severity,
                "evidence": list(f.evidence),
            }
            for f in findings
        ],
        "notes": list(notes),
    }


def cmd_diagnose(args: argparse.Namespace) -> int:
    import asyncio

    from tui.queries import load_templates
    from tui.runbooks.diagnosis import classify_log, diagnose
    from tui.runbooks.parse import load_runbooks
    from tui.runbooks.signatures import load_signatures

    runbooks, signatures = load_runbooks(), load_signatures()
    if args.log_file:
        path = Path(args.log_file)
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as e:
            print(f"runnerdoc: cannot read {path}: {e.strerror}", file=sys.stderr)
            return EXIT_USAGE
        findings = classify_log(lines, runbooks, signatures, source=path.name)
        if args.json:
            _print_json(_findings_json(findings))
        else:
            _print_findings(findings, path.name, None)
        return EXIT_OK
    if not args.runner:
        print("runnerdoc: diagnose needs a RUNNER or --log-file FILE", file=sys.stderr)
        return EXIT_USAGE
    from tui.runbooks.evidence import gather
    from tui.sources.fleet import clients_from_settings
    from tui.sources.loki import LokiClient

    settings = settings_from(args)

    async def collect():
        clients = clients_from_settings(settings)
        loki = LokiClient(settings.loki_url) if settings.loki_url else None
        try:
            return await gather(
                args.runner,
                runbooks,
                load_templates(),
                github=clients.github,
                prometheus=clients.prometheus,
                alertmanager=clients.alertmanager,
                loki=loki,
                read_logs=_ssh_log_reader(settings),
                host_label=settings.host_label,
            )
        finally:
            await clients.aclose()
            if loki:
                await loki.aclose()

    evidence = asyncio.run(collect())
    findings = diagnose(evidence, runbooks, signatures)
    if args.json:
        _print_json({"runner": args.runner, **_findings_json(findings, evidence.notes)})
    else:
        _print_findings(findings, one_line(args.runner), args.runner, evidence.notes)
    return EXIT_OK


def _ssh_log_reader(settings):
    """Reads the journal and newest _diag logs over SSH when the runner is reachable."""
    from tui.remote import RunnerHosts
    from tui.runbooks.targets import ssh_log_reader

    return ssh_log_reader(settings, RunnerHosts(settings.ssh))


# --- runbook ---------------------------------------------------------------------------


def cmd_runbook_list(args: argparse.Namespace) -> int:
    from tui.runbooks.parse import load_runbooks

    runbooks = load_runbooks()
    if args.json:
        _print_json(
            [
                {
                    "id": r.id,
                    "title": r.title,
                    "severity": r.severity,
                    "team": r.team,
                    "summary": r.summary,
                    "alerts": list(r.alerts),
                    "time_to_remediate": r.time_to_remediate,
                    "steps": [{"name": s.name, "kind": s.kind, "title": s.title} for s in r.steps],
                    "path": str(r.path),
                }
                for r in runbooks.values()
            ]
        )
        return EXIT_OK
    width = max((len(r.id) for r in runbooks.values()), default=2)
    for r in runbooks.values():
        print(f"{r.id:<{width}}  {r.severity:<8}  {r.time_to_remediate:>6}  {r.title}")
    return EXIT_OK


def cmd_runbook_show(args: argparse.Namespace) -> int:
    from tui.runbooks.parse import load_runbooks

    runbooks = load_runbooks()
    runbook = runbooks.get(args.id)
    if runbook is None:
        print(
            f"runnerdoc: no runbook {one_line(args.id)!r}; known: {', '.join(runbooks)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(f"{runbook.title}  [{runbook.id}, {runbook.severity}, {runbook.time_to_remediate}]")
    print(runbook.summary)
    if runbook.alerts:
        print(f"Alerts: {', '.join(runbook.alerts)}")
    if runbook.parameters:
        print("\nParameters:")
        for p in runbook.parameters.values():
            default = f" (default {p.default})" if p.default is not None else ""
            print(f"  {p.name:<18} {p.type:<7} {p.description}{default}")
    section = None
    for n, step in enumerate(runbook.steps, start=1):
        if step.section != section:
            section = step.section
            print(f"\n{section}")
        flags = [step.kind, f"on {step.target}"]
        if step.destructive:
            flags.append("DESTRUCTIVE")
        if step.confirm:
            flags.append("asks first")
        print(f"  {n}. {step.title}  ({', '.join(flags)})  [{step.name}]")
        for line in step.command.splitlines():
            print(
                f"       $ {line}" if line is step.command.splitlines()[0] else f"         {line}"
            )
    print(f"\nEscalation: {runbook.escalation}")
    return EXIT_OK


def cmd_runbook_lint(args: argparse.Namespace) -> int:
    from tui.runbooks.lint import lint

    paths = [Path(p) for p in args.paths] or None
    problems = lint(paths)
    for p in problems:
        print(p)
    checked = len(args.paths) if args.paths else "all"
    if problems:
        print(f"{len(problems)} problem(s) in {checked} runbook(s)", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"ok: {checked} runbook(s), no problems", file=sys.stderr)
    return EXIT_OK


def _confirm_prompt(yes: bool):
    from tui.runbooks.engine import Decision

    def confirm(step, command: str):
        if yes:
            return Decision.RUN
        if not sys.stdin.isatty():
            print(
                f"runnerdoc: step {step.name} changes things and needs confirmation:"
                " run in a terminal, or pass --yes",
                file=sys.stderr,
            )
            return Decision.ABORT
        warn = " (DESTRUCTIVE: cannot be undone)" if step.destructive else ""
        while True:
            answer = input(f"Run {step.name}{warn}? [y]es / [s]kip / [a]bort: ").strip().lower()
            if answer in ("y", "yes"):
                return Decision.RUN
            if answer in ("s", "skip", "n", "no"):
                return Decision.SKIP
            if answer in ("a", "abort", "q"):
                return Decision.ABORT

    return confirm


def _show_event(kind: str, outcome, text: str) -> None:
    if kind == "step-end" and outcome is not None:
        step = outcome.step
        mark = {"passed": "ok", "would-run": "would run", "declined": "skipped"}.get(
            outcome.state.value, outcome.state.value.upper()
        )
        print(f"\n[{step.kind}] {one_line(step.title)}  ({step.name}, {step.target})")
        print(f"$ {outcome.command}")
        if outcome.state.value not in ("would-run", "declined", "skipped"):
            for check in outcome.checks:
                print(f"  - {check}")
        print(f"=> {mark}")
    elif kind == "rollback":
        print(f"\n<< {text}")


def _run_runbook(args: argparse.Namespace, resume_id: str | None = None) -> int:
    import getpass

    from tui.remote import RunnerHosts
    from tui.runbooks.engine import RunbookRun, resume_point
    from tui.runbooks.journal import Journal, find_run, new_run_id, read_journal
    from tui.runbooks.lock import HostLock, LockError, LockHeld
    from tui.runbooks.parse import load_runbooks
    from tui.runbooks.runbook import ParameterError
    from tui.runbooks.targets import context_values, executors

    settings = settings_from(args)
    runbooks = load_runbooks()
    point = None
    if resume_id:
        path = find_run(resume_id)
        records = list(read_journal(path))
        start = next((r for r in records if r.get("type") == "run-start"), {})
        runbook = runbooks.get(str(start.get("runbook")))
        if runbook is None:
            print(f"runnerdoc: run {resume_id} is of an unknown runbook", file=sys.stderr)
            return EXIT_USAGE
        point = resume_point(records, runbook)
        if point.from_step is None:
            print(f"runnerdoc: nothing to resume: {point.reason}", file=sys.stderr)
            return EXIT_OK
        runner, given, run_id = point.runner, dict(point.params), resume_id
        print(f"resuming run {run_id} of {runbook.id} on {one_line(runner)}: {point.reason}")
    else:
        runbook = runbooks.get(args.id)
        if runbook is None:
            print(f"runnerdoc: no runbook {one_line(args.id)!r}", file=sys.stderr)
            return EXIT_USAGE
        runner, run_id = args.runner, new_run_id()
        given = {**context_values(runbook, runner, settings), **_params(args.param)}
    read_only_change = settings.read_only and any(s.changes_things for s in runbook.steps)
    if read_only_change and not getattr(args, "dry_run", False):
        print("runnerdoc: read-only mode: only --dry-run is allowed", file=sys.stderr)
        return EXIT_USAGE
    hosts = RunnerHosts(settings.ssh)
    journal = Journal(run_id)
    operator = f"{getpass.getuser()}@{os.uname().nodename}"
    try:
        run = RunbookRun(
            runbook, runner, given, executors(settings, runner, hosts), journal,
            confirm=_confirm_prompt(args.yes), dry_run=getattr(args, "dry_run", False),
            operator=operator, on_event=_show_event,
        )  # fmt: skip
    except ParameterError as e:
        print(f"runnerdoc: {one_line(str(e))}", file=sys.stderr)
        hosts.close()
        return EXIT_USAGE
    lock = None
    try:
        if not run.dry_run:
            lock = HostLock(run.executors["runner"], runner, run_id=run_id, operator=operator)
            try:
                lock.acquire(break_stale=getattr(args, "break_lock", False))
            except (LockHeld, LockError) as e:
                print(f"runnerdoc: {e}", file=sys.stderr)
                return EXIT_PROBLEMS
        print(f"run {run_id}: {runbook.id} on {one_line(runner)} (journal {journal.path})")
        result = run.start(
            resume_from=point.from_step if point else None,
            resumed=point is not None,
            recapture=point.recapture if point else (),
        )
    finally:
        if lock is not None:
            lock.release()
        hosts.close()
    verdict = "ok" if result.ok else f"FAILED ({result.reason})"
    print(f"\nrun {run_id}: {verdict}; resume with: runnerdoc runbook resume {run_id}"
          if not result.ok else f"\nrun {run_id}: {verdict}")  # fmt: skip
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def cmd_runbook_run(args: argparse.Namespace) -> int:
    return _run_runbook(args)


def cmd_runbook_resume(args: argparse.Namespace) -> int:
    return _run_runbook(args, resume_id=args.run_id)


def cmd_runbook_timeline(args: argparse.Namespace) -> int:
    from tui.runbooks.journal import find_run, read_journal
    from tui.runbooks.timeline import timeline_markdown

    text = timeline_markdown(read_journal(find_run(args.run_id)))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return EXIT_OK


# --- query -----------------------------------------------------------------------------


def cmd_query_list(args: argparse.Namespace) -> int:
    from tui.queries import load_templates

    templates = load_templates()
    if args.json:
        _print_json(
            [
                {
                    "id": t.id,
                    "title": t.title,
                    "language": t.language,
                    "unit": t.unit,
                    "description": t.description,
                    "expr": t.expr,
                    "params": {
                        n: {"type": p.type, "default": p.default, "pattern": p.pattern}
                        for n, p in t.params.items()
                    },
                }
                for t in templates.values()
            ]
        )
        return EXIT_OK
    width = max((len(t) for t in templates), default=2)
    for t in templates.values():
        print(f"{t.id:<{width}}  {t.language:<6}  {t.title}")
    return EXIT_OK


def cmd_query_render(args: argparse.Namespace) -> int:
    from tui.queries import ParameterError, load_templates

    templates = load_templates()
    template = templates.get(args.id)
    if template is None:
        print(f"runnerdoc: no query template {one_line(args.id)!r}", file=sys.stderr)
        return EXIT_USAGE
    try:
        print(template.render(_params(args.param)))
    except ParameterError as e:
        print(f"runnerdoc: {one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


# --- parser ----------------------------------------------------------------------------


def _common_options(parser: argparse.ArgumentParser, default: object) -> None:
    g = parser.add_argument_group("where from")
    g.add_argument(
        "--config", metavar="FILE", default=default, help="config file ($RUNNERDOC_CONFIG)"
    )
    g.add_argument(
        "--lab", action="store_true", default=default, help="use the running lab (lab up)"
    )
    scope = g.add_mutually_exclusive_group()
    scope.add_argument("--org", metavar="ORG", default=default, help="an organisation's runners")
    scope.add_argument("--repo", metavar="OWNER/REPO", default=default, help="a repository's")
    scope.add_argument("--enterprise", metavar="SLUG", default=default, help="an enterprise's")
    g.add_argument(
        "--read-only", action="store_true", default=default, help="hide and refuse every change"
    )


def cmd_lab(args: argparse.Namespace) -> int:
    from lab.cli import main as lab_main

    return lab_main(args.lab_args)


def cmd_tui(args: argparse.Namespace) -> int:
    from tui.app import run_app

    return run_app(settings_from(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runnerdoc",
        description="On-call kit for self-hosted GitHub Actions runner fleets.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # The same options work before the subcommand (for the TUI) and after it; after it
    # they default to SUPPRESS so they never overwrite a value given before it.
    _common_options(parser, default=None)
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, default=argparse.SUPPRESS)

    p = sub.add_parser("status", parents=[common], help="the fleet as a table or JSON")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)

    rb = sub.add_parser("runbook", help="list, show and lint runbooks")
    rb_sub = rb.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = rb_sub.add_parser("list", help="list runbooks")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_runbook_list)
    p = rb_sub.add_parser("show", help="show one runbook's steps")
    p.add_argument("id")
    p.set_defaults(func=cmd_runbook_show)
    p = rb_sub.add_parser("run", parents=[common], help="run a runbook's steps on a runner")
    p.add_argument("id")
    p.add_argument("--runner", required=True, metavar="NAME")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--dry-run", action="store_true", help="print every command; run nothing")
    p.add_argument("--yes", action="store_true", help="confirm every step without asking")
    p.add_argument("--break-lock", action="store_true", help="take over a dead run's lock")
    p.set_defaults(func=cmd_runbook_run)
    p = rb_sub.add_parser("resume", parents=[common], help="continue a run from its journal")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--yes", action="store_true", help="confirm every step without asking")
    p.add_argument("--break-lock", action="store_true", help="take over a dead run's lock")
    p.set_defaults(func=cmd_runbook_resume)
    p = rb_sub.add_parser("timeline", help="a run's incident timeline as Markdown")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--output", "-o", metavar="FILE", help="write to a file")
    p.set_defaults(func=cmd_runbook_timeline)
    p = rb_sub.add_parser("lint", help="check runbooks (all when no path is given)")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p.set_defaults(func=cmd_runbook_lint)

    p = sub.add_parser(
        "exporter", parents=[common], help="serve runner state as Prometheus metrics"
    )
    p.add_argument(
        "--listen", type=_listen_address, default=("127.0.0.1", 9108), metavar="ADDR:PORT",
        help="where to serve /metrics (default 127.0.0.1:9108)",
    )  # fmt: skip
    p.add_argument(
        "--interval", type=float, default=15.0, metavar="SECONDS",
        help="seconds from the end of one poll to the next (default 15)",
    )  # fmt: skip
    p.add_argument(
        "--budget-share", type=float, default=None, metavar="FRACTION",
        help="poll less often so polling spends at most this share of the rate limit (0.05)",
    )  # fmt: skip
    p.set_defaults(func=cmd_exporter)

    p = sub.add_parser(
        "diagnose", parents=[common], help="name the likely cause and the runbook that fixes it"
    )
    p.add_argument("runner", nargs="?", metavar="RUNNER", help="the runner to diagnose")
    p.add_argument("--log-file", metavar="FILE", help="classify a saved log instead")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_diagnose)

    p = sub.add_parser(
        "lab",
        help="the local staging fleet: up, down, status, fault, heal",
        add_help=False,
        prefix_chars="\0",  # every argument goes to lab.cli untouched, --help included
    )
    p.add_argument("lab_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_lab)

    from tui.pipeline.commands import add_commands as add_pipeline_commands

    add_pipeline_commands(sub, common)
    from tui.scenarios.commands import add_commands as add_scenario_commands

    add_scenario_commands(sub, common)

    q = sub.add_parser("query", help="list and render query templates")
    q_sub = q.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = q_sub.add_parser("list", help="list query templates")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_query_list)
    p = q_sub.add_parser("render", help="print a template with parameters filled in")
    p.add_argument("id")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.set_defaults(func=cmd_query_render)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        args.func = cmd_tui  # no subcommand: the terminal UI
    try:
        return int(args.func(args))
    except ContentError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except _user_errors() as e:
        print(f"runnerdoc: {one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors whose message is the whole story: print it on one line, no traceback."""
    from tui.config import ConfigError
    from tui.queries import TemplateError
    from tui.runbooks.journal import JournalError

    return (TemplateError, ConfigError, JournalError)


if __name__ == "__main__":
    sys.exit(main())
