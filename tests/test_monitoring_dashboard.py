"""The Grafana dashboard: a fresh build of the committed JSON, linted offline (ids, grid,
variables, data sources), every PromQL parsed by promtool and every LogQL by Grafana's
own LogQL grammar, and every query traced back to its template."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tool_modules import load_tool

from tui.monitoring_pages import dashboard_markdown, dashboard_panels
from tui.queries import load_templates

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "monitoring" / "grafana" / "runnerdoc.json"
LOGQL_CHECK = REPO / "tools" / "logql-check"
# $name, ${name}, ${name:format} and the old [[name]]; Grafana's own start with __.
VARIABLE_REF = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
# What Grafana sends for its interval variables and for a chosen value.
INTERVALS = re.compile(r"\$__(?:rate_interval|auto|interval|range)\b")


build_dashboard = load_tool("build_dashboard")


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows and panels, nested ones included."""
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels") or [])
    return out


def targets(board: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(p, t) for p in dashboard_panels(board) for t in p.get("targets") or []]


def layout_problems(board: dict[str, Any]) -> list[str]:
    problems = []
    ids = [p.get("id") for p in all_panels(board)]
    for dup in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        problems.append(f"panel id {dup} used more than once")
    if None in ids:
        problems.append("a panel has no id")
    boxes = []
    for p in all_panels(board):
        g = p["gridPos"]
        if g["x"] < 0 or g["w"] <= 0 or g["h"] <= 0 or g["x"] + g["w"] > 24:
            problems.append(f"panel {p['title']!r} is outside the 24-column grid: {g}")
        boxes.append((p["title"], g))
    for i, (title_a, a) in enumerate(boxes):
        for title_b, b in boxes[i + 1 :]:
            if (
                a["x"] < b["x"] + b["w"]
                and b["x"] < a["x"] + a["w"]
                and a["y"] < b["y"] + b["h"]
                and b["y"] < a["y"] + a["h"]
            ):
                problems.append(f"panels {title_a!r} and {title_b!r} overlap")
    return problems


def variable_problems(board: dict[str, Any]) -> list[str]:
    defined = [v["name"] for v in board["templating"]["list"]]
    problems = [f"variable {n} defined twice" for n in set(defined) if defined.count(n) > 1]
    used: set[str] = set()
    text_by_owner: list[tuple[str, str]] = []
    for panel in all_panels(board):
        text_by_owner.append((panel["title"], json.dumps(panel)))
    for var in board["templating"]["list"]:
        rest = {k: v for k, v in var.items() if k not in ("name", "current")}
        text_by_owner.append((f"variable {var['name']}", json.dumps(rest)))
    for owner, text in text_by_owner:
        for m in VARIABLE_REF.finditer(text):
            name = next(g for g in m.groups() if g)
            if name.startswith("__"):
                continue
            used.add(name)
            if name not in defined:
                problems.append(f"{owner} uses ${name}, which is not defined")
    problems += [f"variable {n} is defined but never used" for n in defined if n not in used]
    return problems


def literal(query: str) -> str:
    """A query as a data source receives it: intervals as durations, variables as values."""
    query = INTERVALS.sub("1m", query)
    return VARIABLE_REF.sub("x", query)


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install it with `apt-get install -y prometheus`")
    return path


def promql_errors(queries: dict[str, str], tmp_path: Path) -> str:
    """promtool's complaints, "" when every query parses (as a recording rule)."""
    names = {f"dashboard:q{i}": (k, q) for i, (k, q) in enumerate(queries.items())}
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": name, "expr": q} for name, (_, q) in names.items()
    ]}]}  # fmt: skip
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    if result.returncode == 0:
        return ""
    out = result.stdout + result.stderr
    for name, (key, _) in names.items():
        out = out.replace(f'"{name}"', f'"{name}" ({key})')
    return out


def logql_errors(queries: dict[str, str]) -> dict[str, str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: install Node 20 (`apt-get install -y nodejs npm`)")
    if not (LOGQL_CHECK / "node_modules" / "@grafana" / "lezer-logql").is_dir():
        pytest.fail("the LogQL parser is not installed: run `npm ci --prefix tools/logql-check`")
    lines = "".join(json.dumps({"id": k, "query": q}) + "\n" for k, q in queries.items())
    result = subprocess.run(
        [node, str(LOGQL_CHECK / "check.mjs")], input=lines, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(reports) == len(queries), result.stdout + result.stderr
    return {r["id"]: r["error"] for r in reports if not r["ok"]}


# --- Built, not hand-edited -------------------------------------------------------------


def test_committed_dashboard_is_a_fresh_build() -> None:
    assert DASHBOARD.read_text(encoding="utf-8") == build_dashboard.build(), (
        "monitoring/grafana/runnerdoc.json differs from a fresh build: "
        "run `python tools/build_dashboard.py` and commit the result"
    )


def test_check_mode_and_base_url(tmp_path: Path) -> None:
    out = tmp_path / "board.json"
    assert build_dashboard.main(["--output", str(out), "--base-url", "https://ci.example/"]) == 0
    assert build_dashboard.main(["--output", str(out), "--check"]) == 1  # other base URL
    text = out.read_text(encoding="utf-8")
    assert "https://ci.example/runbooks/jobs-queued.html" in text
    assert "127.0.0.1:8000" not in text
    assert build_dashboard.main(["--output", str(out)]) == 0
    assert build_dashboard.main(["--output", str(out), "--check"]) == 0


def test_built_with_a_pinned_grafana_foundation_sdk() -> None:
    from importlib.metadata import version

    # The 0.0.x line; unpinned, pip picks an old build whose version is a timestamp epoch.
    assert re.fullmatch(r"v?0\.0\.\d+", version("grafana-foundation-sdk"))


# --- What is on it ------------------------------------------------------------------------


def test_the_panels_an_on_call_needs(board: dict[str, Any]) -> None:
    panels = dashboard_panels(board)
    assert len(panels) >= 10
    by_title = {p["title"]: p for p in panels}
    refs = {t["refId"] for _, t in targets(board)}
    # fleet state, offline runners, busy ratio per pool, queued jobs and queue time
    assert {"fleet-runners-by-state", "runner-online", "pool-busy-ratio"} <= refs
    assert {"queued-jobs", "queued-job-oldest-seconds"} <= refs
    # host CPU, memory and disk
    assert {"host-cpu-busy-ratio", "host-memory-available-ratio", "host-disk-used-ratio"} <= refs
    # deployments: success, failure, duration
    assert {"deployment-success", "deployment-duration-seconds"} <= refs
    assert by_title["Failed deployments"]["type"] == "stat"
    # runner error logs from Loki, and the firing alerts
    assert by_title["Runner error logs"]["type"] == "logs"
    assert by_title["Runner error logs"]["datasource"]["uid"] == "${loki}"
    assert by_title["Firing alerts"]["type"] == "alertlist"
    assert "ci-platform" in by_title["Firing alerts"]["options"]["alertInstanceLabelFilter"]


def test_layout_has_unique_ids_and_no_overlaps(board: dict[str, Any]) -> None:
    assert layout_problems(board) == []


def test_layout_lint_catches_a_clash(board: dict[str, Any]) -> None:
    broken = copy.deepcopy(board)
    first, second = dashboard_panels(broken)[:2]
    second["gridPos"] = dict(first["gridPos"])
    second["id"] = first["id"]
    problems = layout_problems(broken)
    assert f"panel id {first['id']} used more than once" in problems
    assert any("overlap" in p for p in problems)


def test_every_variable_is_defined_and_used(board: dict[str, Any]) -> None:
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == ["prometheus", "loki", "pool", "runner", "instance"]
    kinds = {v["name"]: (v["type"], v.get("query")) for v in board["templating"]["list"]}
    assert kinds["prometheus"] == ("datasource", "prometheus")
    assert kinds["loki"] == ("datasource", "loki")
    assert variable_problems(board) == []


def test_variable_lint_catches_an_undefined_and_an_unused_variable(board: dict[str, Any]) -> None:
    broken = copy.deepcopy(board)
    broken["templating"]["list"].append({"name": "orphan", "type": "custom", "query": "a,b"})
    _, target = targets(broken)[0]
    target["expr"] += ' or up{job="$nope"}'
    problems = variable_problems(broken)
    assert any("uses $nope" in p for p in problems)
    assert "variable orphan is defined but never used" in problems


def test_every_query_uses_the_data_source_of_its_language(board: dict[str, Any]) -> None:
    templates = load_templates()
    for panel, target in targets(board):
        template = templates[target["refId"]]
        want = {"promql": "${prometheus}", "logql": "${loki}"}[template.language]
        assert target["datasource"]["uid"] == want, panel["title"]
        assert panel["datasource"]["uid"] == want, panel["title"]


def test_every_query_is_its_template_rendered_with_the_variables(board: dict[str, Any]) -> None:
    templates = load_templates()
    built = {(p["title"], t["refId"]): t["expr"] for p, t in targets(board)}
    specs = [
        (panel.title, query)
        for row in build_dashboard.ROWS
        for panel in row.panels
        for query in panel.queries
    ]
    assert len(specs) == len(built)
    for title, query in specs:
        template = templates[query.template]
        expr = built[(title, query.template)]
        values = {k: v for k, v in build_dashboard.VARIABLE_VALUES.items() if k in template.params}
        values.update(query.params)
        assert template.render(values) in expr
        # The panel follows the dashboard's selectors wherever the template can.
        for name in ("pool", "runner", "instance"):
            if name in template.params:
                assert f"${name}" in expr, (title, name)


def test_every_promql_parses_with_promtool(board: dict[str, Any], tmp_path: Path) -> None:
    templates = load_templates()
    queries = {
        f"{p['title']}/{t['refId']}": literal(t["expr"])
        for p, t in targets(board)
        if templates[t["refId"]].language == "promql"
    }
    # The series selectors inside the variables' label_values(...) queries, too.
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            selector = re.fullmatch(r"label_values\((.+), *\w+\)", var["query"])
            assert selector is not None, var["query"]
            queries[f"variable {var['name']}"] = literal(selector.group(1))
    assert len(queries) >= 15
    assert promql_errors(queries, tmp_path) == ""


def test_promtool_check_catches_a_broken_panel_query(tmp_path: Path) -> None:
    errors = promql_errors({"ok": "sum(up)", "broken": "sum(rate(up[1m])"}, tmp_path)
    assert "(broken)" in errors
    assert "(ok)" not in errors


def test_every_logql_parses_with_lezer_logql(board: dict[str, Any]) -> None:
    templates = load_templates()
    queries = {
        f"{p['title']}/{t['refId']}": literal(t["expr"])
        for p, t in targets(board)
        if templates[t["refId"]].language == "logql"
    }
    assert len(queries) == 2
    assert logql_errors(queries) == {}
    assert set(logql_errors({"broken": '{job="actions-runner"} |= "unclosed'})) == {"broken"}


def test_panel_runbook_links_point_at_runbooks(board: dict[str, Any]) -> None:
    linked = 0
    for panel in dashboard_panels(board):
        for link in panel.get("links") or []:
            m = re.fullmatch(r"http://127\.0\.0\.1:8000/(runbooks/[a-z0-9-]+)\.html", link["url"])
            assert m is not None, link["url"]
            assert (REPO / "docs" / f"{m.group(1)}.md").is_file(), link["url"]
            linked += 1
    assert linked >= 8


# --- The site page ----------------------------------------------------------------------


def test_dashboard_page_lists_panels_queries_variables_and_import(board: dict[str, Any]) -> None:
    page = dashboard_markdown()
    assert page.startswith("# Dashboard: runnerdoc: runner fleet")
    assert "Dashboards → New → Import" in page
    for var in board["templating"]["list"]:
        assert f"`${var['name']}`" in page
    for panel in dashboard_panels(board):
        assert f"#### {panel['title']}\n" in page
        for target in panel.get("targets") or []:
            assert target["expr"] in page
            assert f"](queries.md#{target['refId']})" in page
    assert "```logql" in page and "```promql" in page
