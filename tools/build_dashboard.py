"""Build the Grafana dashboard monitoring/grafana/runnerdoc.json from the query templates.

Every panel query is a template from queries/ rendered with the dashboard's variables,
through grafana-foundation-sdk. Run with --check in CI to catch a stale JSON file.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "monitoring" / "grafana" / "runnerdoc.json"
UID = "runnerdoc-fleet"
GRID_WIDTH = 24

sys.path.insert(0, str(ROOT))  # so `python tools/build_dashboard.py` finds the tui package

from tools.generated import DEFAULT_BASE_URL, generator_main  # noqa: E402

# Template parameters taken from the dashboard's variables (Grafana fills them in).
VARIABLE_VALUES = {"pool": "$pool", "runner": "$runner", "instance": "$instance"}
PROMQL_WINDOW = "$__rate_interval"
LOGQL_WINDOW = "$__auto"
DATASOURCE_VARIABLE = {"promql": "prometheus", "logql": "loki"}

PanelKind = Literal["timeseries", "stat", "table", "bargauge", "logs", "alertlist"]


@dataclass(frozen=True)
class Query:
    """One panel query: a template, its parameter values, and how the panel uses it."""

    template: str
    params: Mapping[str, str] = field(default_factory=dict)
    # `{}` is replaced by the rendered template, e.g. "{} == 0" to list offline runners.
    wrap: str = "{}"
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class PanelSpec:
    title: str
    kind: PanelKind
    width: int
    height: int
    queries: tuple[Query, ...] = ()
    description: str = ""
    unit: str | None = None  # default: the first template's unit
    max: float | None = None
    thresholds: tuple[tuple[float | None, str], ...] = ()
    mappings: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # value -> text, color
    runbook: str | None = None  # the runbook this panel's trouble is answered by


@dataclass(frozen=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


RED, ORANGE, GREEN = "red", "orange", "green"

ROWS: tuple[RowSpec, ...] = (
    RowSpec(
        "Fleet",
        (
            PanelSpec(
                "Runners by state",
                "bargauge",
                6,
                8,
                (Query("fleet-runners-by-state", legend="{{pool}} · {{state}}", instant=True),),
                description="How many runners each pool has idle, active, offline and orphaned.",
            ),
            PanelSpec(
                "Offline runners",
                "table",
                6,
                8,
                (Query("runner-online", wrap="{} == 0", instant=True),),
                description="Runners GitHub shows offline now: they take no jobs.",
                runbook="runner-offline",
            ),
            PanelSpec(
                "Online runners per pool",
                "timeseries",
                6,
                8,
                (Query("pool-online-runners", legend="{{pool}}"),),
                thresholds=((None, RED), (1, GREEN)),
                runbook="jobs-queued",
            ),
            PanelSpec(
                "Busy share per pool",
                "timeseries",
                6,
                8,
                (Query("pool-busy-ratio", legend="{{pool}}"),),
                max=1,
                thresholds=((None, GREEN), (0.9, ORANGE)),
                runbook="jobs-queued",
            ),
        ),
    ),
    RowSpec(
        "Jobs",
        (
            PanelSpec(
                "Jobs waiting for a runner",
                "timeseries",
                12,
                8,
                (Query("queued-jobs", legend="{{repository}} → {{pool}}"),),
                runbook="jobs-queued",
            ),
            PanelSpec(
                "Oldest waiting job",
                "timeseries",
                12,
                8,
                (Query("queued-job-oldest-seconds", legend="{{repository}} → {{pool}}"),),
                thresholds=((None, GREEN), (900, RED)),
                runbook="jobs-queued",
            ),
        ),
    ),
    RowSpec(
        "Hosts",
        (
            PanelSpec(
                "CPU busy",
                "timeseries",
                6,
                8,
                (Query("host-cpu-busy-ratio", {"window": PROMQL_WINDOW}, legend="{{runner}}"),),
                max=1,
                thresholds=((None, GREEN), (0.95, ORANGE)),
                runbook="degraded-resources",
            ),
            PanelSpec(
                "Memory available",
                "timeseries",
                6,
                8,
                (Query("host-memory-available-ratio", legend="{{runner}}"),),
                max=1,
                thresholds=((None, RED), (0.1, GREEN)),
                runbook="degraded-resources",
            ),
            PanelSpec(
                "Disk used (fullest filesystem)",
                "timeseries",
                6,
                8,
                (Query("host-disk-used-ratio", legend="{{runner}}"),),
                max=1,
                thresholds=((None, GREEN), (0.9, RED)),
                runbook="degraded-resources",
            ),
            PanelSpec(
                "Hours until a disk is full",
                "bargauge",
                6,
                8,
                (Query("host-disk-hours-until-full", legend="{{runner}}", instant=True),),
                thresholds=((None, RED), (24, ORANGE), (72, GREEN)),
                runbook="degraded-resources",
            ),
        ),
    ),
    RowSpec(
        "Logs",
        (
            PanelSpec(
                "Runner error logs",
                "logs",
                16,
                10,
                (Query("runner-error-logs"),),
                runbook="runner-offline",
            ),
            PanelSpec(
                "Error lines per second",
                "timeseries",
                8,
                10,
                (Query("runner-error-rate", {"window": LOGQL_WINDOW}, legend="{{runner}}"),),
            ),
        ),
    ),
    RowSpec(
        "Deployments",
        (
            PanelSpec(
                "Last deployments",
                "table",
                8,
                8,
                (Query("deployment-success", instant=True),),
                description="The last deployment to each environment: succeeded or failed.",
                mappings={"1": ("succeeded", GREEN), "0": ("failed", RED)},
                runbook="deployment-failed",
            ),
            PanelSpec(
                "Failed deployments",
                "stat",
                4,
                8,
                (Query("deployment-success", wrap="count({} == 0) or vector(0)", instant=True),),
                description="How many environments' last deployment failed.",
                unit="short",
                thresholds=((None, GREEN), (1, RED)),
                runbook="deployment-failed",
            ),
            PanelSpec(
                "Deployment duration",
                "bargauge",
                6,
                8,
                (
                    Query(
                        "deployment-duration-seconds",
                        legend="{{repository}} {{environment}} {{version}}",
                        instant=True,
                    ),
                ),
            ),
            PanelSpec(
                "Time since the last deployment",
                "bargauge",
                6,
                8,
                (
                    Query(
                        "deployment-age-seconds",
                        legend="{{repository}} {{environment}}",
                        instant=True,
                    ),
                ),
            ),
        ),
    ),
    RowSpec(
        "Alerts",
        (
            PanelSpec(
                "Firing alerts",
                "alertlist",
                24,
                8,
                description=(
                    "runnerdoc's alerts that fire or are pending now, from the Prometheus rules"
                    " in monitoring/prometheus; each links to its runbook in runbook_url."
                ),
            ),
        ),
    ),
)


class DashboardError(Exception):
    """The panel specs do not fit the templates or the grid."""


def render(query: Query, templates: Mapping[str, Any]) -> tuple[str, str]:
    """The query text a target runs, and its language."""
    template = templates.get(query.template)
    if template is None:
        raise DashboardError(f"no query template {query.template!r} in queries/")
    values = {k: v for k, v in VARIABLE_VALUES.items() if k in template.params}
    values.update(query.params)
    return query.wrap.replace("{}", template.render(values)), template.language


def build(base_url: str = DEFAULT_BASE_URL, templates: Mapping[str, Any] | None = None) -> str:
    """The dashboard JSON text, with runbook links under `base_url`."""
    # The SDK prefers its v2 dashboard schema, which only Grafana 12 with a feature flag
    # imports; the classic JSON model built here imports into every Grafana from 10 on.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Prefer using dashboardv2", DeprecationWarning)
        return _build(base_url, templates)


def _build(base_url: str, templates: Mapping[str, Any] | None) -> str:
    from grafana_foundation_sdk.builders import dashboard as dash
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import dashboard as model

    from tui.queries import load_templates
    from tui.runbooks.parse import load_runbooks

    templates = load_templates() if templates is None else templates
    runbooks = load_runbooks()
    base = base_url.rstrip("/")
    if not re.fullmatch(r"https?://[^\s\"'<>]+", base):
        raise DashboardError(f"base URL {base_url!r} is not an http(s) URL")
    teams = sorted({book.team for book in runbooks.values()})

    board = (
        dash.Dashboard("runnerdoc: runner fleet")
        .uid(UID)
        .description(
            "Self-hosted GitHub Actions runners: fleet state, queued jobs, host health, "
            "runner error logs, deployments and firing alerts. Built by runnerdoc from its "
            "query templates."
        )
        .tags(["runnerdoc", "github-actions", "ci"])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .link(
            dash.DashboardLink("Runbooks")
            .type(model.DashboardLinkType.LINK)
            .url(f"{base}/runbooks/index.html")
            .icon("doc")
            .target_blank(True)
        )
    )
    for variable in _variables(dash, model):
        board = board.with_variable(variable)

    next_id = 1
    y = 0
    for row in ROWS:
        if sum(p.width for p in row.panels) != GRID_WIDTH:
            raise DashboardError(f"row {row.title!r}: panel widths must add up to {GRID_WIDTH}")
        board = board.with_row(
            dash.Row(row.title).id(next_id).grid_pos(model.GridPos(h=1, w=GRID_WIDTH, x=0, y=y))
        )
        next_id += 1
        y += 1
        x = 0
        height = 0
        for spec in row.panels:
            panel = _panel(spec, templates, runbooks, base, teams)
            panel = panel.id(next_id).grid_pos(model.GridPos(h=spec.height, w=spec.width, x=x, y=y))
            board = board.with_panel(panel)
            next_id += 1
            x += spec.width
            height = max(height, spec.height)
        y += height

    built = board.build()
    text = json.dumps(built, cls=JSONEncoder, indent=2, ensure_ascii=False, sort_keys=True)
    return text + "\n"


def _variables(dash: Any, model: Any) -> list[Any]:
    from grafana_foundation_sdk.models.common import DataSourceRef

    prometheus = DataSourceRef(type_val="prometheus", uid="${prometheus}")
    all_selected = model.VariableOption(selected=True, text="All", value="$__all")
    return [
        dash.DatasourceVariable("prometheus").label("Prometheus").type("prometheus"),
        dash.DatasourceVariable("loki").label("Loki").type("loki"),
        dash.QueryVariable("pool")
        .label("Pool")
        .description("Runner pools (the exporter's pool label).")
        .datasource(prometheus)
        .query("label_values(runnerdoc_runner_info, pool)")
        .definition("label_values(runnerdoc_runner_info, pool)")
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(all_selected)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC),
        # No all_value for runner and instance: "All" then stands for the runners of the
        # chosen pools and the hosts of the chosen runners, not for everything.
        dash.QueryVariable("runner")
        .label("Runner")
        .description("Runners of the chosen pools.")
        .datasource(prometheus)
        .query('label_values(runnerdoc_runner_info{pool=~"$pool"}, runner)')
        .definition('label_values(runnerdoc_runner_info{pool=~"$pool"}, runner)')
        .multi(True)
        .include_all(True)
        .current(all_selected)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC),
        dash.QueryVariable("instance")
        .label("Host")
        .description("node_exporter instances of the chosen runners (their runner label).")
        .datasource(prometheus)
        .query('label_values(node_load1{runner=~"$runner"}, instance)')
        .definition('label_values(node_load1{runner=~"$runner"}, instance)')
        .multi(True)
        .include_all(True)
        .current(all_selected)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC),
    ]


def _panel(
    spec: PanelSpec,
    templates: Mapping[str, Any],
    runbooks: Mapping[str, Any],
    base: str,
    teams: list[str],
) -> Any:
    from grafana_foundation_sdk.builders import (
        bargauge,
        common,
        logs,
        loki,
        prometheus,
        stat,
        table,
        timeseries,
    )
    from grafana_foundation_sdk.builders import dashboard as dash
    from grafana_foundation_sdk.models import common as common_model
    from grafana_foundation_sdk.models import dashboard as model
    from grafana_foundation_sdk.models import prometheus as prom_model

    makers = {
        "timeseries": timeseries.Panel,
        "stat": stat.Panel,
        "table": table.Panel,
        "bargauge": bargauge.Panel,
        "logs": logs.Panel,
        "alertlist": dash.Panel,
    }
    panel = makers[spec.kind]().title(spec.title)
    if spec.kind == "alertlist":
        return panel.type("alertlist").description(spec.description).options(_alertlist(teams))

    descriptions = []
    language = ""
    unit = spec.unit
    for query in spec.queries:
        expr, language = render(query, templates)
        template = templates[query.template]
        unit = unit or template.unit
        descriptions.append(" ".join(template.description.split()))
        source = common_model.DataSourceRef(
            type_val=DATASOURCE_VARIABLE[language], uid="${" + DATASOURCE_VARIABLE[language] + "}"
        )
        panel = panel.datasource(source)
        if language == "promql":
            target = prometheus.Dataquery().expr(expr).ref_id(query.template).datasource(source)
            if query.legend:
                target = target.legend_format(query.legend)
            if query.instant:
                target = target.instant().format(
                    prom_model.PromQueryFormat.TABLE
                    if spec.kind == "table"
                    else prom_model.PromQueryFormat.TIME_SERIES
                )
            else:
                target = target.range()
        else:
            target = loki.Dataquery().expr(expr).ref_id(query.template).datasource(source)
            if query.legend:
                target = target.legend_format(query.legend)
            if spec.kind == "logs":
                target = target.max_lines(1000)
        panel = panel.with_target(target)
    panel = panel.description(spec.description or " ".join(descriptions))

    if spec.kind == "logs":
        return (
            panel.show_time(True)
            .show_labels(True)
            .wrap_log_message(True)
            .enable_log_details(True)
            .sort_order(common_model.LogsSortOrder.DESCENDING)
            .links(_links(spec, runbooks, base))
        )
    if unit and unit != "none":
        panel = panel.unit(unit)
    if spec.max is not None:
        panel = panel.min(0).max(spec.max)
    if spec.thresholds:
        steps = [model.Threshold(value=v, color=c) for v, c in spec.thresholds]
        panel = panel.thresholds(
            dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps)
        )
    if spec.mappings:
        panel = panel.mappings(
            [
                model.ValueMap(
                    options={
                        value: model.ValueMappingResult(text=text, color=color, index=i)
                        for i, (value, (text, color)) in enumerate(spec.mappings.items())
                    }
                )
            ]
        )
    if spec.kind == "timeseries":
        legend = (
            common.VizLegendOptions()
            .show_legend(True)
            .display_mode(common_model.LegendDisplayMode.TABLE)
            .placement(common_model.LegendPlacement.RIGHT)
            .calcs(["lastNotNull", "max"])
        )
        panel = panel.legend(legend).fill_opacity(10).line_width(1)
        if spec.thresholds:
            panel = panel.thresholds_style(
                common.GraphThresholdsStyleConfig().mode(common_model.GraphThresholdsStyleMode.LINE)
            )
    if spec.kind in ("stat", "bargauge"):
        panel = panel.reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
    if spec.kind == "bargauge":
        panel = panel.orientation(common_model.VizOrientation.HORIZONTAL)
    if spec.kind == "table":
        panel = panel.with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True}, "renameByName": {"Value": "value"}},
            )
        )
    return panel.links(_links(spec, runbooks, base))


def _links(spec: PanelSpec, runbooks: Mapping[str, Any], base: str) -> list[Any]:
    from grafana_foundation_sdk.builders import dashboard as dash

    if spec.runbook is None:
        return []
    book = runbooks.get(spec.runbook)
    if book is None:
        raise DashboardError(f"panel {spec.title!r}: no runbook {spec.runbook!r}")
    return [
        dash.DashboardLink(f"Runbook: {book.title}")
        .url(f"{base}/runbooks/{book.id}.html")
        .target_blank(True)
    ]


def _alertlist(teams: list[str]) -> dict[str, Any]:
    """Options of Grafana's alert list panel (unified alerting), showing our teams' alerts."""
    return {
        "viewMode": "list",
        "groupMode": "default",
        "groupBy": [],
        "maxItems": 50,
        "sortOrder": 1,
        "dashboardAlerts": False,
        "alertName": "",
        "alertInstanceLabelFilter": '{team=~"' + "|".join(teams) + '"}',
        "showInstances": True,
        "stateFilter": {
            "firing": True,
            "pending": True,
            "noData": False,
            "normal": False,
            "error": True,
        },
    }


def main(argv: list[str] | None = None) -> int:
    return generator_main(
        "build_dashboard", __doc__.splitlines()[0], build, DashboardError, OUTPUT, argv
    )


if __name__ == "__main__":
    sys.exit(main())
