"""The lab's Prometheus and Alertmanager configuration, from the project's monitoring/ folder.

Prometheus scrapes every host (node_exporter names, one target per host with its
`instance` and `runner` labels), the runnerdoc exporter and the Pushgateway (with
honor_labels), and loads the alert and recording rules in monitoring/prometheus/ that
promtool accepts, with every alert's `for` cut to 10 s (in the lab's copies only).
Alertmanager loads monitoring/alertmanager/alertmanager.yml with every receiver pointed
at the lab's notification sink, or routes everything to the sink when the file is
missing. Intervals are short so that alerts show within seconds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
FOR_SECONDS = 10
MONITORING = REPO / "monitoring"


def rule_files(source: Path = MONITORING / "prometheus") -> list[Path]:
    """Every rule file in monitoring/prometheus (`*.yml`), promtool tests left out.

    `*.yaml` there are sources the rule files are built from, not rule files.
    """
    if not source.is_dir():
        return []
    found = list(source.glob("*.yml"))
    return sorted(p for p in found if "test" not in p.name and _is_rule_file(p))


def _is_rule_file(path: Path) -> bool:
    """A Prometheus rule file has top-level `groups` (not an example config or a source)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return True  # let promtool say what is wrong with it
    return isinstance(data, dict) and "groups" in data and "scrape_configs" not in data


def install_rules(
    folder: Path, promtool: str | None, source: Path = MONITORING / "prometheus"
) -> tuple[list[str], list[str]]:
    """Copy the rule files promtool accepts into `folder`; (installed, warnings)."""
    folder.mkdir(parents=True, exist_ok=True)
    installed, warnings = [], []
    for path in rule_files(source):
        if promtool:
            check = subprocess.run(
                [promtool, "check", "rules", str(path)], capture_output=True, text=True
            )
            if check.returncode != 0:
                reason = (check.stderr or check.stdout).strip().splitlines()
                warnings.append(f"{path.name} left out: {reason[-1] if reason else 'invalid'}")
                continue
        (folder / path.name).write_text(_quick(path.read_text(encoding="utf-8")))
        installed.append(path.name)
    return installed, warnings


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _seconds(duration: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", str(duration)):
        total += int(number) * _UNITS[unit]
    return total


def _quick(text: str) -> str:
    """The rules with every alert's `for` cut to at most FOR_SECONDS, so faults alert quickly."""
    data = yaml.safe_load(text)
    for group in data.get("groups", []) or []:
        for rule in group.get("rules", []) or []:
            if "alert" in rule and _seconds(rule.get("for", "0s")) > FOR_SECONDS:
                rule["for"] = f"{FOR_SECONDS}s"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def prometheus_config(
    *,
    metrics_url: str,
    hosts: list[str],
    exporter: str | None,
    pushgateway: str,
    alertmanager: str,
) -> str:
    """prometheus.yml: 2 s scrapes and evaluations; rules from ./rules/."""
    host_address = metrics_url.removeprefix("http://")
    node_targets = [
        {
            "targets": [host_address],
            "labels": {
                "__metrics_path__": f"/hosts/{name}/metrics",
                "instance": f"{name}:9100",
                "runner": name,
            },
        }
        for name in hosts
    ]
    scrape: list[dict[str, Any]] = [
        {"job_name": "node", "static_configs": node_targets},
        {
            "job_name": "pushgateway",
            "honor_labels": True,
            "static_configs": [{"targets": [pushgateway.removeprefix("http://")]}],
        },
    ]
    if exporter:
        scrape.append(
            {
                # RunnerExporterDown looks for this job name.
                "job_name": "runnerdoc",
                "static_configs": [{"targets": [exporter.removeprefix("http://")]}],
            }
        )
    config = {
        "global": {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "2s"},
        "rule_files": ["rules/*.yml"],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [alertmanager.removeprefix("http://")]}]}
            ]
        },
        "scrape_configs": scrape,
    }
    return yaml.safe_dump(config, sort_keys=False)


def minimal_alertmanager(sink_url: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "lab-sink",
            "group_by": ["alertname", "runner"],
            "group_wait": "1s",
            "group_interval": "5s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "lab-sink",
                "webhook_configs": [{"url": f"{sink_url}/webhook/lab-sink", "send_resolved": True}],
            }
        ],
    }


def _shorten(route: dict[str, Any]) -> None:
    for key, value in (("group_wait", "1s"), ("group_interval", "5s")):
        if key in route or key == "group_wait":
            route[key] = value
    for child in route.get("routes", []) or []:
        if isinstance(child, dict):
            _shorten(child)


def lab_alertmanager(
    sink_url: str, source: Path = MONITORING / "alertmanager" / "alertmanager.yml"
) -> tuple[dict[str, Any], list[str]]:
    """The project's Alertmanager config with every receiver aimed at the sink; (config, notes)."""
    if not source.exists():
        return minimal_alertmanager(sink_url), [
            "no monitoring/alertmanager/alertmanager.yml: everything goes to the sink"
        ]
    try:
        config = yaml.safe_load(source.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        return minimal_alertmanager(sink_url), [
            f"alertmanager.yml unreadable ({e}); minimal config"
        ]
    if not isinstance(config, dict) or "route" not in config:
        return minimal_alertmanager(sink_url), ["alertmanager.yml has no route; minimal config"]
    glob = config.setdefault("global", {}) or {}
    config["global"] = glob
    for key in list(glob):
        if key.endswith("_api_url") or key.endswith("_api_url_file") or key.startswith("smtp_"):
            glob.pop(key)
    glob["slack_api_url"] = f"{sink_url}/slack/default"
    for receiver in config.get("receivers", []) or []:
        name = receiver.get("name", "receiver")
        for slack in receiver.get("slack_configs", []) or []:
            slack.pop("api_url_file", None)
            slack["api_url"] = f"{sink_url}/slack/{name}"
        for hook in receiver.get("webhook_configs", []) or []:
            hook.pop("url_file", None)
            hook["url"] = f"{sink_url}/webhook/{name}"
        for kind in (
            "pagerduty_configs",
            "opsgenie_configs",
            "msteams_configs",
            "discord_configs",
            "telegram_configs",
            "email_configs",
        ):
            if receiver.pop(kind, None):
                receiver.setdefault("webhook_configs", []).append(
                    {"url": f"{sink_url}/{kind.split('_')[0]}/{name}", "send_resolved": True}
                )
    templates = config.get("templates") or []
    config["templates"] = [str((source.parent / t).resolve()) for t in templates]
    _shorten(config["route"])
    return config, []
