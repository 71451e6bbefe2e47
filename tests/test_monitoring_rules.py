"""The Prometheus rules a team imports: generated from their source and the query
templates, clean under `promtool check rules`, unit-tested alert by alert with
`promtool test rules`, and every alert linked to a runbook that lists it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tool_modules import load_tool

from tui.monitoring_pages import alerts_for_runbook, load_alert_rules, load_rules
from tui.queries import load_templates
from tui.runbooks.parse import load_runbooks

REPO = Path(__file__).resolve().parent.parent
PROM_DIR = REPO / "monitoring" / "prometheus"
RULES = PROM_DIR / "runnerdoc.rules.yml"
SOURCE = PROM_DIR / "runnerdoc.rules.src.yaml"
TESTS_DIR = PROM_DIR / "tests"
RUNBOOKS_DIR = REPO / "docs" / "runbooks"


build_rules = load_tool("build_rules")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install it with `apt-get install -y prometheus` "
            "(Debian's package ships /usr/bin/promtool)"
        )
    return path


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=cwd)


def _test_files(folder: Path = TESTS_DIR) -> list[Path]:
    files = sorted(folder.glob("*.test.yml"))
    assert files, f"no promtool test files in {folder}"
    return files


# --- Generated from the source --------------------------------------------------------


def test_committed_rules_are_a_fresh_build() -> None:
    fresh = build_rules.build()
    assert RULES.read_text(encoding="utf-8") == fresh, (
        "monitoring/prometheus/runnerdoc.rules.yml differs from a fresh build: "
        "run `python tools/build_rules.py` and commit the result"
    )


def test_check_mode_tells_a_stale_file_from_a_fresh_one(tmp_path: Path) -> None:
    out = tmp_path / "rules.yml"
    assert build_rules.main(["--output", str(out)]) == 0
    assert build_rules.main(["--output", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("for: 10m", "for: 1m", 1))
    assert build_rules.main(["--output", str(out), "--check"]) == 1


def test_base_url_sets_every_runbook_link(tmp_path: Path) -> None:
    out = tmp_path / "rules.yml"
    assert (
        build_rules.main(["--base-url", "https://ci.example.com/docs/", "--output", str(out)]) == 0
    )
    alerts = load_alert_rules(out)
    assert alerts
    for alert in alerts:
        assert alert.runbook_url == f"https://ci.example.com/docs/runbooks/{alert.runbook}.html"
    # The default is the local `mkdocs serve` address.
    assert {a.runbook_url.split("/runbooks/")[0] for a in load_alert_rules()} == {
        "http://127.0.0.1:8000"
    }


def test_a_base_url_that_is_no_url_is_refused() -> None:
    with pytest.raises(build_rules.RulesError, match="not an http"):
        build_rules.build("runbooks.example.com")


def test_alert_expressions_are_built_from_the_query_templates() -> None:
    """Where an alert uses a template, its expression holds the rendered template
    verbatim (whitespace aside), so the alert and the panel cannot drift apart."""
    templates = load_templates()
    spec = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    generated = {a.name: a.expr for a in load_alert_rules()}
    used = 0
    for group in spec["groups"]:
        for alert in group["alerts"]:
            for template_id in re.findall(r"\$\{([a-z0-9]+(?:-[a-z0-9]+)+)\}", alert["expr"]):
                params = (alert.get("params") or {}).get(template_id) or {}
                rendered = templates[template_id].render(params)
                assert " ".join(rendered.split()) in " ".join(generated[alert["alert"]].split())
                used += 1
    assert used >= 17  # all but RunnerExporterDown come from templates


def test_a_template_used_next_to_an_operator_is_parenthesised() -> None:
    # host-systemd-unit-active ends in `or ... * 0`: without brackets `== 0` would bind to
    # the `* 0` part only and the alert would fire for every host.
    expr = {a.name: a.expr for a in load_alert_rules()}["RunnerServiceNotActive"]
    assert expr.startswith("(\n")
    assert re.search(r"\n\) == 0\n", expr)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("${runner-online} == 0", "${runner-onlin} == 0"), "neither a query template"),
        (("severity: info", "severity: page"), "severity must be one of"),
        (("runbook: version-deprecated", "runbook: no-such-book"), "no runbook"),
        (("alert: HostClockSkew", "alert: host_clock_skew"), "CamelCase"),
        (("for: 15m", "for: soon"), "not a duration"),
    ],
)
def test_mistakes_in_the_source_are_named(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = SOURCE.read_text(encoding="utf-8")
    assert change[0] in text
    broken = tmp_path / "rules.src.yaml"
    broken.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(build_rules.RulesError, match=message):
        build_rules.build(source=broken)


# --- promtool ---------------------------------------------------------------------------


def test_promtool_check_rules_is_clean() -> None:
    result = _run([promtool(), "check", "rules", str(RULES)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 25 rules found" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = _run([promtool(), "test", "rules", *map(str, _test_files())])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(_test_files())


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    firing: dict[str, list[dict]] = {}
    silent: set[str] = set()
    for path in _test_files():
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert spec["rule_files"] == ["../runnerdoc.rules.yml"], path
        for test in spec["tests"]:
            for case in test.get("alert_rule_test") or []:
                if case.get("exp_alerts"):
                    firing.setdefault(case["alertname"], []).extend(case["exp_alerts"])
                else:
                    silent.add(case["alertname"])
    alerts = load_alert_rules()
    names = {a.name for a in alerts}
    assert names - set(firing) == set(), "alerts never shown firing"
    assert names - silent == set(), "alerts never shown NOT firing"
    assert set(firing) | silent <= names, "tests for alerts that do not exist"
    for alert in alerts:
        for expected in firing[alert.name]:
            # Labels and every annotation, the runbook link included, are asserted.
            assert expected["exp_labels"]["severity"] == alert.severity
            assert expected["exp_labels"]["team"] == alert.team
            assert set(expected["exp_annotations"]) == {"summary", "description", "runbook_url"}
            assert expected["exp_annotations"]["runbook_url"] == alert.runbook_url


def test_unit_tests_catch_a_changed_runbook_link(tmp_path: Path) -> None:
    """The promtool tests really compare annotations: the same rules with another base
    URL must fail them."""
    (tmp_path / "tests").mkdir()
    for path in _test_files():
        shutil.copy(path, tmp_path / "tests" / path.name)
    (tmp_path / "runnerdoc.rules.yml").write_text(
        build_rules.build("https://elsewhere.example.com"), encoding="utf-8"
    )
    result = _run([promtool(), "test", "rules", *map(str, _test_files(tmp_path / "tests"))])
    assert result.returncode != 0
    assert "https://elsewhere.example.com/runbooks/" in result.stdout + result.stderr


def test_prometheus_example_config_loads_the_rules() -> None:
    result = _run([promtool(), "check", "config", "prometheus.example.yml"], cwd=PROM_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 25 rules found" in result.stdout


# --- Alerts and runbooks ----------------------------------------------------------------


def test_the_alerts_are_the_ones_the_runbooks_answer() -> None:
    runbooks = load_runbooks()
    promised = {name for book in runbooks.values() for name in book.alerts}
    assert {a.name for a in load_alert_rules()} == promised


def test_every_alert_links_to_a_runbook_that_lists_it() -> None:
    runbooks = load_runbooks()
    for alert in load_alert_rules():
        path = re.search(r"/(runbooks/[^/]+)\.html$", alert.runbook_url)
        assert path is not None, alert.runbook_url
        # The site uses use_directory_urls: false, so runbooks/<id>.md is runbooks/<id>.html.
        assert (REPO / "docs" / f"{path.group(1)}.md").is_file(), alert.runbook_url
        runbook = runbooks[alert.runbook]
        assert alert.name in runbook.alerts, f"{runbook.path} does not list {alert.name}"
        assert alert.team == runbook.team


def test_alerts_have_what_the_on_call_reads() -> None:
    for alert in load_alert_rules():
        assert re.fullmatch(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*", alert.name)
        assert alert.severity in ("critical", "warning", "info")
        assert alert.summary and alert.description
        assert len(alert.summary) <= 80, alert.name
    assert {a.severity for a in load_alert_rules()} == {"critical", "warning", "info"}


def test_pool_alerts_keep_the_pool_label() -> None:
    # Alertmanager sends these to the failover service, which acts per pool.
    for name in ("RunnerPoolEmpty", "RunnerPoolCapacityLow"):
        expr = {a.name: a.expr for a in load_alert_rules()}[name]
        assert re.match(r"sum by \(pool\)", expr), expr


def test_alerts_for_runbook_lists_each_runbooks_alerts_in_file_order() -> None:
    runbooks = load_runbooks()
    for book in runbooks.values():
        found = alerts_for_runbook(book.id)
        assert {a.name for a in found} == set(book.alerts)
    names = [a.name for a in alerts_for_runbook("jobs-queued")]
    assert names == ["RunnerPoolEmpty", "RunnerPoolCapacityLow", "JobsQueuedTooLong"]
    assert alerts_for_runbook("expired-secrets") == []
    first = alerts_for_runbook("runner-offline")[0]
    assert (first.name, first.severity) == ("RunnerOffline", "warning")
    assert first.summary == "Runner {{ $labels.runner }} is offline"
    assert "runnerdoc_runner_online" in first.expr


def test_recording_rules_are_loaded_too() -> None:
    _, records = load_rules()
    assert [r.name for r in records][:2] == [
        "pool_state:runnerdoc_runners:sum",
        "pool:runnerdoc_runner_online:sum",
    ]
