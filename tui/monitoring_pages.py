"""The site's generated pages about monitoring: the alert rules and the Grafana dashboard.

Both are read from the committed files a team imports (monitoring/prometheus/runnerdoc.rules.yml
and monitoring/grafana/runnerdoc.json), so the site describes exactly what is deployed.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from tui.content import ROOT

MONITORING_DIR = ROOT / "monitoring"
RULES_FILE = MONITORING_DIR / "prometheus" / "runnerdoc.rules.yml"
DASHBOARD_FILE = MONITORING_DIR / "grafana" / "runnerdoc.json"
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

_RUNBOOK_URL = re.compile(r"/runbooks/([a-z0-9]+(?:-[a-z0-9]+)*)\.html$")
# `{{ $labels.runner }}` and `{{ $value | humanizePercentage }}` in alert annotations.
_LABEL_REF = re.compile(r"\{\{\s*\$labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VALUE_REF = re.compile(r"\{\{\s*\$value\b[^}]*\}\}")
_REFERENCE = re.compile(f"{_LABEL_REF.pattern}|{_VALUE_REF.pattern}")
# Characters Markdown (or attr_list, for braces) would read as syntax in running text.
_MARKDOWN_SPECIAL = {c: f"&#{ord(c)};" for c in "\\`*_{}[]<>#|&!"}
_DATASOURCE_LANGUAGE = {"prometheus": "promql", "loki": "logql"}


class MonitoringFileError(Exception):
    """A committed monitoring file is missing or not in the shape the pages expect."""


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alert rule as generated into runnerdoc.rules.yml."""

    name: str
    severity: str
    summary: str
    description: str
    expr: str
    for_duration: str
    runbook: str  # runbook id, from the runbook_url annotation
    runbook_url: str
    team: str
    group: str
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class RecordingRule:
    name: str
    expr: str
    group: str


def load_rules(path: Path = RULES_FILE) -> tuple[list[AlertRule], list[RecordingRule]]:
    """The alert and recording rules of a rules file, in file order."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MonitoringFileError(f"{path}: cannot read the rules ({exc.strerror})") from exc
    alerts: list[AlertRule] = []
    records: list[RecordingRule] = []
    for group in data.get("groups") or []:
        for rule in group.get("rules") or []:
            if "record" in rule:
                records.append(RecordingRule(rule["record"], rule["expr"], group["name"]))
                continue
            annotations = rule.get("annotations") or {}
            labels = rule.get("labels") or {}
            url = annotations.get("runbook_url", "")
            found = _RUNBOOK_URL.search(url)
            if found is None:
                raise MonitoringFileError(
                    f"{path}: alert {rule['alert']} has no runbook_url ending in "
                    f"/runbooks/<id>.html (got {url!r})"
                )
            alerts.append(
                AlertRule(
                    name=rule["alert"],
                    severity=labels.get("severity", ""),
                    summary=annotations.get("summary", ""),
                    description=annotations.get("description", ""),
                    expr=rule["expr"],
                    for_duration=str(rule.get("for", "0s")),
                    runbook=found.group(1),
                    runbook_url=url,
                    team=labels.get("team", ""),
                    group=group["name"],
                    labels=MappingProxyType({str(k): str(v) for k, v in labels.items()}),
                )
            )
    return alerts, records


def load_alert_rules(path: Path = RULES_FILE) -> list[AlertRule]:
    return load_rules(path)[0]


def alerts_for_runbook(runbook_id: str, path: Path = RULES_FILE) -> list[AlertRule]:
    """The alerts whose runbook_url points at runbook `runbook_id`, in file order."""
    return [a for a in load_alert_rules(path) if a.runbook == runbook_id]


def alert_anchor(name: str) -> str:
    """The id of an alert's section on reference/alerts.md."""
    return name.lower()


def alerts_markdown(runbooks: Mapping[str, Any] | None = None, path: Path = RULES_FILE) -> str:
    """The site's "Alerts" reference page: every alert, its expression and its runbook."""
    if runbooks is None:
        from tui.runbooks.parse import load_runbooks

        runbooks = load_runbooks()
    alerts, records = load_rules(path)
    out = [
        "# Alerts",
        "",
        "The Prometheus alert rules in `monitoring/prometheus/runnerdoc.rules.yml`. Each one",
        "links to the runbook that answers it; `monitoring/alertmanager/alertmanager.yml`",
        "routes them by team and severity. The expressions are built from the",
        "[query templates](queries.md), so the alert, the dashboard panel and the query the",
        "terminal UI runs are the same query. In a summary, <var>name</var> stands for the",
        "alert's label of that name and <var>value</var> for the value that fired it.",
        "",
        "| Alert | Severity | Runbook | Summary |",
        "|---|---|---|---|",
    ]
    ordered = sorted(alerts, key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), a.name))
    for a in ordered:
        out.append(
            f"| [{a.name}](#{alert_anchor(a.name)}) | {a.severity} "
            f"| {_runbook_link(a.runbook, runbooks)} | {_annotation(a.summary)} |"
        )
    out.append("")
    for a in alerts:
        out += [
            f"## {a.name} {{ #{alert_anchor(a.name)} }}",
            "",
            f"**{_annotation(a.summary)}**",
            "",
            _annotation(a.description),
            "",
            f"Severity: {a.severity} · fires after: {a.for_duration} · team: {_text(a.team)} "
            f"· runbook: {_runbook_link(a.runbook, runbooks)} · group: `{a.group}`",
            "",
            "```promql",
            a.expr,
            "```",
            "",
        ]
    if records:
        out += [
            "## Recording rules",
            "",
            "Recorded for dashboards over long ranges and for capacity planning.",
            "",
        ]
        for r in records:
            out += [f"`{r.name}`", "", "```promql", r.expr, "```", ""]
    return "\n".join(out)


def _runbook_link(runbook_id: str, runbooks: Mapping[str, Any]) -> str:
    runbook = runbooks.get(runbook_id)
    title = runbook.title if runbook is not None else runbook_id
    return f"[{_text(title)}](../runbooks/{runbook_id}.md)"


def _text(text: str) -> str:
    """Outside text made inert for Markdown: no markup, no HTML, no attribute lists."""
    return _escape(" ".join(str(text).split()))


def _escape(text: str) -> str:
    return "".join(_MARKDOWN_SPECIAL.get(c, c) for c in text)


def _annotation(text: str) -> str:
    """An annotation template as prose: label and value references as <var>."""
    text = " ".join(text.split())
    out: list[str] = []
    pos = 0
    for m in _REFERENCE.finditer(text):
        out.append(_escape(text[pos : m.start()]))
        out.append(f"<var>{html.escape(m.group(1) or 'value')}</var>")
        pos = m.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


# --- The dashboard --------------------------------------------------------------------


def load_dashboard(path: Path = DASHBOARD_FILE) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MonitoringFileError(f"{path}: cannot read the dashboard ({exc.strerror})") from exc


def dashboard_panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel in display order, rows' collapsed panels included, rows left out."""
    out: list[dict[str, Any]] = []
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            out.extend(panel.get("panels") or [])
        else:
            out.append(panel)
    return out


def dashboard_markdown(path: Path = DASHBOARD_FILE) -> str:
    """The site's "Dashboard" reference page: variables, panels and their queries, import."""
    board = load_dashboard(path)
    variables = (board.get("templating") or {}).get("list") or []
    out = [
        f"# Dashboard: {_text(board.get('title', ''))}",
        "",
        _text(board.get("description", "")),
        "",
        "The Grafana dashboard `monitoring/grafana/runnerdoc.json`, built by",
        "`tools/build_dashboard.py` from the [query templates](queries.md): every panel",
        "query below is a template rendered with the dashboard's variables.",
        "",
        "## Import it",
        "",
        "1. In Grafana, open **Dashboards → New → Import**, upload",
        "   `monitoring/grafana/runnerdoc.json` and press **Import**.",
        "2. Pick your Prometheus and Loki data sources in the **Prometheus** and **Loki**",
        "   selectors at the top of the dashboard: the panels follow the selection, so",
        "   nothing inside the JSON needs editing. Grafana remembers the choice when you",
        "   save the dashboard.",
        "3. To provision it instead, put the JSON in a folder that a",
        "   [dashboard provider](https://grafana.com/docs/grafana/latest/administration/provisioning/#dashboards)",
        "   reads.",
        "",
        "The panels expect the metric and label names in `monitoring/README.md`: the",
        "`runnerdoc exporter`, node_exporter with a `runner` label on every runner host,",
        "the Pushgateway for deployments, and runner logs shipped to Loki by",
        "`monitoring/alloy/config.alloy`.",
        "",
        "## Variables",
        "",
        "| Variable | Label | Kind | Values from |",
        "|---|---|---|---|",
    ]
    for var in variables:
        source = var.get("query")
        if isinstance(source, dict):
            source = source.get("query", "")
        if var.get("type") == "datasource":
            source = f"data sources of type {var.get('query', '')}"
        out.append(
            f"| `${var.get('name', '')}` | {_text(var.get('label') or '')} "
            f"| {var.get('type', '')} | {_code_cell(str(source or ''))} |"
        )
    out.append("")
    out += ["## Panels", ""]
    row_title = ""
    for panel in board.get("panels") or []:
        if panel.get("type") == "row":
            row_title = panel.get("title", "")
            out += [f"### {_text(row_title)}", ""]
            inner = panel.get("panels") or []
        else:
            inner = [panel]
        for p in inner:
            out += _panel_markdown(p)
    return "\n".join(out)


def _panel_markdown(panel: Mapping[str, Any]) -> list[str]:
    out = [f"#### {_text(panel.get('title', ''))}", ""]
    if panel.get("description"):
        out += [_text(panel["description"]), ""]
    out += [f"Panel type: `{panel.get('type', '')}`", ""]
    for target in panel.get("targets") or []:
        expr = target.get("expr")
        if not expr:
            continue
        kind = _datasource_kind(target.get("datasource") or panel.get("datasource") or {})
        language = _DATASOURCE_LANGUAGE.get(kind, "text")
        ref = target.get("refId", "")
        out += [
            f"Query [`{ref}`](queries.md#{ref}) ({'PromQL' if language == 'promql' else 'LogQL'}):",
            "",
            f"```{language}",
            expr,
            "```",
            "",
        ]
    if panel.get("type") == "alertlist":
        label_filter = (panel.get("options") or {}).get("alertInstanceLabelFilter", "")
        out += [
            "Shows the alerts firing and pending in Grafana's alerting view (Prometheus rules"
            " included), filtered by " + _code_cell(label_filter) + ".",
            "",
        ]
    return out


def _datasource_kind(ref: Mapping[str, Any]) -> str:
    kind = str(ref.get("type", ""))
    if kind in _DATASOURCE_LANGUAGE:
        return kind
    uid = str(ref.get("uid", ""))
    return next((k for k in _DATASOURCE_LANGUAGE if k in uid), "")


def _code_cell(text: str) -> str:
    if not text:
        return ""
    return "<code>" + html.escape(" ".join(text.split())).replace("|", "&#124;") + "</code>"
