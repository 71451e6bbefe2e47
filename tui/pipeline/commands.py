"""Subcommands of the pipeline integrations, added to `runnerdoc`'s parser: check, notify,
metrics and failover. Each reads settings only when it runs, so `runnerdoc --help` stays fast."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tui.text import one_line

CHECK_THRESHOLDS = (
    ("disk_free_warning", "PERCENT", "warn below this much free space in the work folder (15)"),
    ("disk_free_critical", "PERCENT", "critical below this much free space (5)"),
    ("inodes_free_warning", "PERCENT", "warn below this share of free inodes (10)"),
    ("inodes_free_critical", "PERCENT", "critical below this share of free inodes (3)"),
    ("memory_available_warning", "PERCENT", "warn below this much available memory (10)"),
    ("memory_available_critical", "PERCENT", "critical below this much available memory (5)"),
    ("clock_offset_warning", "SECONDS", "warn when the clock is this far off GitHub's (30)"),
    ("clock_offset_critical", "SECONDS", "critical from this far off (300: the runner's limit)"),
    ("work_size_warning", "GIB", "warn when the work folder holds this much (50)"),
    ("work_size_critical", "GIB", "critical when the work folder holds this much (none)"),
)
CHECK_KEYS = (
    *(name for name, _, _ in CHECK_THRESHOLDS),
    "runner_min_version", "hosts", "ca_file", "timeout", "skip", "runner_root",
    "size_budget", "certificate_days_warning",
)  # fmt: skip


def _err(message: str) -> None:
    print(f"runnerdoc: {one_line(message)}", file=sys.stderr)


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} must look like 127.0.0.1:9099")
    return host or "127.0.0.1", int(port)


def _percent_or_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


# ----- check ----------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from tui.cli import settings_from
    from tui.pipeline.check_report import as_json, as_markdown, as_table
    from tui.pipeline.config_tables import table_reader
    from tui.pipeline.health_check import (
        CHECK_NAMES,
        EXIT_CODES,
        CheckPlan,
        Endpoint,
        Thresholds,
        default_endpoints,
        overall,
        run_checks,
        work_folder_from_env,
    )

    settings = settings_from(args)
    table = table_reader(settings, "check", CHECK_KEYS)
    levels: dict[str, Any] = {}
    defaults = Thresholds()
    for name, _, _ in CHECK_THRESHOLDS:
        flag = getattr(args, name)
        levels[name] = flag if flag is not None else table.number(name, getattr(defaults, name))
    levels["certificate_days_warning"] = table.number(
        "certificate_days_warning", defaults.certificate_days_warning
    )
    levels["runner_min_version"] = args.runner_min_version or table.text("runner_min_version", None)
    thresholds = Thresholds(**levels)
    problems = thresholds.problems()
    skip = frozenset(args.skip or table.strings("skip", ()))
    unknown = skip - set(CHECK_NAMES)
    if unknown:
        problems.append(f"--skip takes {', '.join(CHECK_NAMES)}; not {', '.join(sorted(unknown))}")
    try:
        hosts = args.host or list(table.strings("hosts", ()))
        endpoints = (
            tuple(Endpoint.parse(h) for h in hosts)
            if hosts
            else default_endpoints(settings.github_api_url, settings.github_url)
        )
    except ValueError as e:
        problems.append(str(e))
        endpoints = ()
    if problems:
        for p in problems:
            _err(p)
        return 2
    ca_file = args.ca_file or table.text("ca_file", None)
    root = args.runner_root or table.text("runner_root", None)
    plan = CheckPlan(
        work_folder=Path(args.path) if args.path else work_folder_from_env(os.environ),
        endpoints=endpoints,
        api_url=settings.github_api_url,
        thresholds=thresholds,
        ca_file=Path(ca_file).expanduser() if ca_file else None,
        timeout=args.timeout or table.number("timeout", 5.0) or 5.0,
        size_budget=table.number("size_budget", 20.0) or 20.0,
        runner_root=Path(root).expanduser() if root else None,
        runner_version=os.environ.get("RUNNER_VERSION") or None,
        docker_host=os.environ.get("DOCKER_HOST") or None,
        skip=skip,
    )
    results = run_checks(plan)
    if args.json:
        print(json.dumps(as_json(results), indent=2, ensure_ascii=True))
    else:
        print(as_table(results))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and not args.no_summary:
        try:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(as_markdown(results, os.environ.get("RUNNER_NAME")))
        except OSError as e:
            _err(f"cannot append to $GITHUB_STEP_SUMMARY: {e.strerror}")
    return EXIT_CODES[overall(results)]


def _add_check(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "check",
        parents=[common],
        help="this runner's health, from a CI step: disk, memory, docker, network, clock",
        description=(
            "Check the runner this job runs on. Exit 0 healthy, 1 warning, 2 critical; a check "
            "that cannot run reports unknown and does not change the exit status. Thresholds "
            "also come from the [check] table of the config file."
        ),
    )
    p.add_argument("--path", metavar="DIR", help="work folder (default: $RUNNER_WORKSPACE/..)")
    p.add_argument(
        "--host", action="append", metavar="HOST[:PORT]",
        help="check DNS and TLS of this host (repeat; default: GitHub's, from $GITHUB_API_URL)",
    )  # fmt: skip
    p.add_argument("--ca-file", metavar="PEM", help="trust these CAs for TLS (a proxy's CA)")
    p.add_argument("--timeout", type=_percent_or_seconds, metavar="SECONDS", help="per check (5)")
    p.add_argument("--runner-root", metavar="DIR", help="the runner's install folder")
    p.add_argument("--runner-min-version", metavar="VERSION", help="warn below this version")
    p.add_argument(
        "--skip", action="append", metavar="CHECK",
        help="leave a check out (repeat): disk, inodes, memory, docker, dns, tls, clock, "
        "runner-version, work-size",
    )  # fmt: skip
    for name, metavar, text in CHECK_THRESHOLDS:
        p.add_argument(
            "--" + name.replace("_", "-"), dest=name, type=_percent_or_seconds,
            metavar=metavar, help=text,
        )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--no-summary", action="store_true", help="do not append to $GITHUB_STEP_SUMMARY"
    )
    p.set_defaults(func=cmd_check)


# ----- notify ---------------------------------------------------------------------------------


def cmd_notify(args: argparse.Namespace) -> int:
    """Whatever goes wrong here, a failure notice exits with the failed job's status."""
    failed = args.event == "deployment-failure"
    status = args.exit_status if args.exit_status is not None else (1 if failed else 0)
    try:
        from tui.pipeline.notify import FAILURE, RECOVERED

        report = _notify(args, FAILURE if failed else RECOVERED)
    except Exception as e:  # the job's own result must come through, whatever broke here
        _err(f"notification failed: {type(e).__name__}: {one_line(str(e), limit=200)}")
        return status
    for note in report.notes:
        print(f"runnerdoc notify: {note}")
    for problem in report.problems:
        _err(problem)
    return status


def _notify(args: argparse.Namespace, kind: str):
    from tui.cli import settings_from
    from tui.pipeline.config_tables import table_reader
    from tui.pipeline.deployment import DeploymentRun
    from tui.pipeline.notify import NotifyReport, notify, read_log
    from tui.pipeline.slack import SlackWebhook
    from tui.sources.github import GitHubClient, Scope

    settings = settings_from(args)
    table = table_reader(
        settings, "notify", ("slack_webhook_file", "runbook_url", "labels", "log_lines")
    )
    flags = {k: getattr(args, k) for k in (
        "repository", "environment", "workflow", "run_id", "run_attempt", "server_url", "job",
        "step", "sha",
    )}  # fmt: skip
    # settings.github_url is $GITHUB_SERVER_URL, else the config file's, else github.com.
    flags["server_url"] = args.server_url or settings.github_url
    env = dict(os.environ)
    run = DeploymentRun.from_flags(flags, env)
    report = NotifyReport()

    evidence = None
    if args.log_file:
        from tui.runbooks.diagnosis import classify_log
        from tui.runbooks.parse import load_runbooks
        from tui.runbooks.signatures import load_signatures

        runbooks, signatures = load_runbooks(), load_signatures()
        lines = args.log_lines if args.log_lines is not None else table.integer("log_lines", 30)
        try:
            evidence = read_log(
                Path(args.log_file),
                lines,
                env,
                lambda ls, source: classify_log(ls, runbooks, signatures, source=source),
            )
        except OSError as e:
            report.problems.append(f"cannot read the log {args.log_file}: {e.strerror}")

    slack = None
    if not args.no_slack:
        slack = SlackWebhook.configured(
            args.slack_webhook_file or table.text("slack_webhook_file", None), env
        )
        if slack is None:
            report.notes.append("slack: no webhook ($SLACK_WEBHOOK_URL or --slack-webhook-file)")
    github = None
    if not args.no_issue:
        provider = settings.token_provider()
        github = GitHubClient(
            settings.github_api_url,
            lambda: provider().reveal(),
            Scope("repo", run.repository),
            max_rate_limit_wait=120.0,
        )
    return notify(
        kind,
        run,
        github=github,
        slack=slack,
        evidence=evidence,
        exit_status=args.exit_status,
        runbook_url=args.runbook_url or table.text("runbook_url", None),
        extra_labels=[*table.strings("labels", ()), *(args.label or ())],
        report=report,
    )


def _add_notify(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    n = sub.add_parser(
        "notify",
        help="tell Slack and a GitHub issue that a deployment failed or recovered",
        description=(
            "Run from the deployment job. deployment-failure exits with --exit-status (default 1)"
            " whatever happens to the notifications; deployment-recovered exits 0."
        ),
    )
    n_sub = n.add_subparsers(dest="event", metavar="EVENT", required=True)
    for event, text in (
        ("deployment-failure", "a deployment failed: open or update its incident issue"),
        ("deployment-recovered", "a deployment succeeded: close the open incident issue"),
    ):
        p = n_sub.add_parser(event, parents=[common], help=text)
        # Not required=True: a usage error would exit 2 and hide the job's own status.
        p.add_argument("--environment", metavar="NAME", help="where it deploys, e.g. production")
        p.add_argument("--repository", metavar="OWNER/NAME", help="($GITHUB_REPOSITORY)")
        p.add_argument("--workflow", metavar="NAME", help="($GITHUB_WORKFLOW)")
        p.add_argument("--run-id", metavar="ID", help="($GITHUB_RUN_ID)")
        p.add_argument("--run-attempt", metavar="N", help="($GITHUB_RUN_ATTEMPT)")
        p.add_argument("--server-url", metavar="URL", help="($GITHUB_SERVER_URL)")
        p.add_argument("--job", metavar="ID", help="($GITHUB_JOB)")
        p.add_argument("--step", metavar="NAME", help="the step that failed")
        p.add_argument("--sha", metavar="COMMIT", help="($GITHUB_SHA)")
        p.add_argument(
            "--log-file", metavar="FILE", help="the failed step's output: excerpt and cause"
        )
        p.add_argument("--log-lines", type=int, metavar="N", help="lines of the log to quote (30)")
        p.add_argument(
            "--exit-status", type=int, metavar="N",
            help="exit with this: the failed job's status (default 1 for a failure, 0 otherwise)",
        )  # fmt: skip
        p.add_argument(
            "--slack-webhook-file", metavar="FILE",
            help="file holding the incoming-webhook URL (else $SLACK_WEBHOOK_URL)",
        )  # fmt: skip
        p.add_argument("--runbook-url", metavar="URL", help="base URL of the runbook site")
        p.add_argument("--label", action="append", metavar="LABEL", help="extra issue label")
        p.add_argument("--no-issue", action="store_true", help="no GitHub issue, Slack only")
        p.add_argument("--no-slack", action="store_true", help="no Slack, issue only")
        p.set_defaults(func=cmd_notify)


# ----- metrics --------------------------------------------------------------------------------


def _started_at(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither epoch seconds nor an ISO 8601 time"
        ) from None


def _gateway(args: argparse.Namespace) -> str:
    from tui.cli import settings_from
    from tui.config import ConfigError
    from tui.pipeline.config_tables import table_reader

    settings = settings_from(args)
    table = table_reader(settings, "metrics", ("pushgateway_url",))
    url = (
        args.pushgateway
        or os.environ.get("RUNNERDOC_PUSHGATEWAY_URL")
        or table.text("pushgateway_url", None)
    )
    if not url:
        raise ConfigError(
            "where is the Pushgateway? --pushgateway URL, $RUNNERDOC_PUSHGATEWAY_URL or "
            "[metrics] pushgateway_url"
        )
    return url


def _repository(args: argparse.Namespace) -> str:
    from tui.config import ConfigError

    repo = args.repository or os.environ.get("GITHUB_REPOSITORY")
    if not repo:
        raise ConfigError("which repository? --repository OWNER/NAME or $GITHUB_REPOSITORY")
    return repo


def cmd_metrics_push(args: argparse.Namespace) -> int:
    from tui.config import ConfigError
    from tui.pipeline.deployment_metrics import Deployment, PushError, push_deployment

    gateway = _gateway(args)
    now = time.time()
    version = args.version or (os.environ.get("GITHUB_SHA") or "")[:12]
    if not version:
        raise ConfigError("which version was deployed? --version V (or $GITHUB_SHA)")
    if args.duration is not None:
        duration = args.duration
    elif args.started_at is not None:
        duration = max(0.0, now - args.started_at)
    else:
        raise ConfigError("how long did it take? --duration SECONDS or --started-at TIME")
    try:
        deployment = Deployment(
            _repository(args), args.environment, version, args.outcome, duration, now
        )
    except ValueError as e:
        raise ConfigError(str(e)) from None
    try:
        push_deployment(gateway, deployment)
    except PushError as e:
        _err(str(e))
        return 1
    print(
        f"pushed: {deployment.repository} {deployment.environment} {deployment.version} "
        f"{deployment.outcome} in {deployment.duration_seconds:.0f} s"
    )
    return 0


def cmd_metrics_delete(args: argparse.Namespace) -> int:
    from tui.pipeline.deployment_metrics import PushError, delete_deployment

    gateway = _gateway(args)
    repository = _repository(args)
    try:
        delete_deployment(gateway, repository, args.environment)
    except PushError as e:
        _err(str(e))
        return 1
    print(f"deleted: {repository} {args.environment}")
    return 0


def _add_metrics(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    m = sub.add_parser("metrics", help="push deployment results to the Pushgateway")
    m_sub = m.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = m_sub.add_parser("push", parents=[common], help="record one deployment's result")
    p.add_argument(
        "--outcome", required=True, choices=("success", "failure", "cancelled"),
        help="the deployment's result (${{ job.status }})",
    )  # fmt: skip
    p.add_argument("--environment", required=True, metavar="NAME")
    p.add_argument("--version", metavar="VERSION", help="what was deployed ($GITHUB_SHA)")
    p.add_argument("--duration", type=_percent_or_seconds, metavar="SECONDS")
    p.add_argument(
        "--started-at", type=_started_at, metavar="TIME",
        help="when the deployment began (epoch seconds or ISO 8601); duration is until now",
    )  # fmt: skip
    for q in (p, m_sub.add_parser("delete", parents=[common], help="forget an environment")):
        q.add_argument("--repository", metavar="OWNER/NAME", help="($GITHUB_REPOSITORY)")
        q.add_argument(
            "--pushgateway", metavar="URL",
            help="($RUNNERDOC_PUSHGATEWAY_URL, or [metrics] pushgateway_url)",
        )  # fmt: skip
    m_sub.choices["delete"].add_argument("--environment", required=True, metavar="NAME")
    p.set_defaults(func=cmd_metrics_push)
    m_sub.choices["delete"].set_defaults(func=cmd_metrics_delete)


# ----- failover -------------------------------------------------------------------------------


def _failover_setup(args: argparse.Namespace, controller: str):
    import logging

    from tui.cli import settings_from
    from tui.config import ConfigError, Secret
    from tui.pipeline.failover import FailoverController, load_failover_config
    from tui.pipeline.slack import SlackWebhook
    from tui.sources.github import GitHubClient

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    settings = settings_from(args)
    overrides = {
        "pool": args.pool,
        "min_online": args.min_online,
        "for_seconds": args.for_seconds,
        "recover_seconds": args.recover_seconds,
        "variable": args.variable,
        "fallback_labels": args.fallback_labels,
        "scope": args.variable_scope,
        "repository": args.variable_repo,
        "state_file": args.state_file,
        "slack_webhook_file": args.slack_webhook_file,
        "interval": getattr(args, "interval", None),
    }
    config = load_failover_config(settings, overrides)
    dry_run = args.dry_run
    if settings.read_only and not dry_run:
        print("runnerdoc failover: read-only mode: changing nothing (as --dry-run)", flush=True)
        dry_run = True
    provider = settings.token_provider()
    variables = GitHubClient(
        settings.github_api_url, lambda: provider().reveal(), config.variable_scope
    )
    slack = SlackWebhook.configured(config.slack_webhook_file)
    token = None
    if config.webhook_token_file is not None:
        try:
            token = Secret(config.webhook_token_file.read_text(encoding="utf-8").strip())
        except OSError as e:
            where = config.webhook_token_file
            raise ConfigError(f"webhook token file {where}: {e.strerror}") from None
    ctl = FailoverController(config, variables, controller=controller, slack=slack, dry_run=dry_run)
    return settings, config, ctl, token


def _run_until_signalled(main) -> None:
    import asyncio
    import signal

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def cmd_failover_serve(args: argparse.Namespace) -> int:
    from tui.pipeline.alert_receiver import PATH, serve

    _settings, config, ctl, token = _failover_setup(args, "serve")
    address = args.listen or _listen(config.listen)

    async def main(stop) -> None:
        try:
            await ctl.start()
            await serve(
                ctl, address, stop, token=token,
                on_listening=lambda a: print(
                    f"runnerdoc failover: pool {config.pool}, Alertmanager webhooks on "
                    f"http://{a[0]}:{a[1]}{PATH}" + (" (dry run)" if ctl.dry_run else ""),
                    flush=True,
                ),
            )  # fmt: skip
        finally:
            await ctl.github.aclose()

    _run_until_signalled(main)
    return 0


def cmd_failover_watch(args: argparse.Namespace) -> int:
    from tui.pipeline.failover import watch
    from tui.sources.fleet import clients_from_settings

    settings, config, ctl, _token = _failover_setup(args, "watch")
    if settings.scope is None:
        _err("whose runners? --org, --repo or --enterprise (or github.org in the config)")
        return 2
    runners = clients_from_settings(settings).github
    assert runners is not None
    print(
        f"runnerdoc failover: watching pool {config.pool} of {settings.scope} every "
        f"{config.interval:g} s" + (" (dry run)" if ctl.dry_run else ""),
        flush=True,
    )

    async def main(stop) -> None:
        try:
            await ctl.start()
            await watch(ctl, runners, stop, once=args.once)
        finally:
            await ctl.github.aclose()
            await runners.aclose()

    _run_until_signalled(main)
    return 0


def cmd_failover_status(args: argparse.Namespace) -> int:
    from tui.cli import settings_from
    from tui.pipeline.failover import failover_status

    status = failover_status(settings_from(args))
    if status is None:
        print("failover: no state yet (it never ran, or [failover] state_file points elsewhere)")
        return 1
    now = time.time()
    if args.json:
        print(
            json.dumps(
                {
                    "pool": status.pool,
                    "mode": status.mode.value,
                    "variable": status.variable,
                    "target": status.target,
                    "fallback_labels": list(status.fallback_labels),
                    "online": status.online,
                    "min_online": status.min_online,
                    "short_since": status.short_since,
                    "healthy_since": status.healthy_since,
                    "updated_at": status.updated_at,
                    "controller": status.controller,
                    "firing": list(status.firing),
                    "error": status.error,
                    "history": [
                        {"switch": h.switch.value, "at": h.at, "reason": h.reason}
                        for h in status.history
                    ],
                },
                indent=2,
                ensure_ascii=True,
            )
        )
        return 0
    where = "fallback labels " + ", ".join(status.fallback_labels)
    print(
        f"pool {one_line(status.pool)}: {status.mode.value}"
        + (f" (jobs go to {where})" if status.mode.value == "fallback" else "")
    )
    online = "?" if status.online is None else str(status.online)
    print(f"online {online}, minimum {status.min_online}; {status.variable} in {status.target}")
    print(f"updated {status.age(now):.0f} s ago by failover {status.controller}")
    if status.last_switch:
        s = status.last_switch
        print(f"last switch: {s.switch.value} {now - s.at:.0f} s ago: {one_line(s.reason)}")
    if status.error:
        print(f"! {one_line(status.error)}")
    return 0


def _add_failover(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    f = sub.add_parser(
        "failover",
        help="send a short pool's jobs to fallback runners, and back when it recovers",
    )
    f_sub = f.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = f_sub.add_parser(
        "serve", parents=[common], help="act on Alertmanager's pool capacity alerts"
    )
    serve.add_argument(
        "--listen", type=_listen, metavar="ADDR:PORT",
        help="where Alertmanager posts (default 127.0.0.1:9099, path /alertmanager)",
    )  # fmt: skip
    watch = f_sub.add_parser("watch", parents=[common], help="poll GitHub for the pool's runners")
    watch.add_argument("--interval", type=float, metavar="SECONDS", help="between polls (30)")
    watch.add_argument("--once", action="store_true", help="poll once and exit (for cron)")
    for p in (serve, watch):
        p.add_argument("--pool", metavar="LABEL", help="the pool ([failover] pool)")
        p.add_argument("--min-online", type=int, metavar="N", help="fewest runners online (1)")
        p.add_argument(
            "--for-seconds", type=_percent_or_seconds, metavar="S",
            help="how long short before switching (300)",
        )  # fmt: skip
        p.add_argument(
            "--recover-seconds", type=_percent_or_seconds, metavar="S",
            help="how long healthy before switching back (600)",
        )  # fmt: skip
        p.add_argument("--variable", metavar="NAME", help="the Actions variable (CI_RUNNER)")
        p.add_argument(
            "--fallback-labels", metavar="JSON", help="where jobs go, e.g. '[\"ubuntu-latest\"]'"
        )
        p.add_argument("--variable-scope", choices=("org", "repo"), help="where the variable lives")
        p.add_argument("--variable-repo", metavar="OWNER/NAME", help="its repository (repo scope)")
        p.add_argument("--state-file", metavar="FILE", help="where switches are recorded")
        p.add_argument("--slack-webhook-file", metavar="FILE", help="post each switch to Slack")
        p.add_argument(
            "--dry-run", action="store_true", help="log what it would do; change nothing"
        )
    serve.set_defaults(func=cmd_failover_serve)
    watch.set_defaults(func=cmd_failover_watch)
    st = f_sub.add_parser("status", parents=[common], help="what failover last did")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=cmd_failover_status)


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add check, notify, metrics and failover; `common` carries --config/--lab/scope."""
    _add_check(sub, common)
    _add_notify(sub, common)
    _add_metrics(sub, common)
    _add_failover(sub, common)
