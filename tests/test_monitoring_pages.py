"""The site's generated monitoring pages (reference/alerts.md, reference/dashboard.md)
and alerts_for_runbook(), read from the committed rules and dashboard."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tui.monitoring_pages import (
    MonitoringFileError,
    alert_anchor,
    alerts_for_runbook,
    alerts_markdown,
    load_alert_rules,
)
from tui.runbooks.parse import load_runbooks


def test_alerts_page_shows_every_alert_with_expression_and_runbook() -> None:
    runbooks = load_runbooks()
    page = alerts_markdown(runbooks)
    assert page.startswith("# Alerts\n")
    for alert in load_alert_rules():
        section = page.split(f"## {alert.name} {{ #{alert_anchor(alert.name)} }}\n", 1)[1]
        section = section.split("\n## ", 1)[0]
        assert f"Severity: {alert.severity}" in section
        assert f"fires after: {alert.for_duration}" in section
        title = runbooks[alert.runbook].title
        assert f"[{title}](../runbooks/{alert.runbook}.md)" in section
        assert f"```promql\n{alert.expr}\n```" in section
        # The summary table row links to the section.
        assert f"| [{alert.name}](#{alert_anchor(alert.name)}) | {alert.severity} |" in page
    assert "{{" not in page.replace("```promql", "")  # templates shown as <var>, not raw
    assert "<var>runner</var>" in page and "<var>value</var>" in page
    assert "## Recording rules" in page


def test_alerts_page_is_ordered_by_severity_in_the_table() -> None:
    page = alerts_markdown()
    rows = re.findall(r"^\| \[(\w+)\]\(#\w+\) \| (\w+) \|", page, re.M)
    severities = [s for _, s in rows]
    order = {"critical": 0, "warning": 1, "info": 2}
    assert severities == sorted(severities, key=order.__getitem__)
    assert len(rows) == len(load_alert_rules())


def _rules_file(tmp_path: Path, summary: str, url: str) -> Path:
    path = tmp_path / "rules.yml"
    rule = {
        "alert": "OddAlert",
        "expr": "up == 0",
        "for": "1m",
        "labels": {"severity": "warning", "team": "ci-platform"},
        "annotations": {"summary": summary, "description": "d", "runbook_url": url},
    }
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
    return path


def test_annotation_text_cannot_break_the_page(tmp_path: Path) -> None:
    summary = "a | b {: .evil } <script>x</script> *bold* [link](http://x) {{ $labels.pool }}"
    path = _rules_file(tmp_path, summary, "http://h/runbooks/runner-offline.html")
    page = alerts_markdown(load_runbooks(), path=path)
    row = next(line for line in page.splitlines() if line.startswith("| [OddAlert]"))
    assert row.count("|") == 5  # the `|` in the summary is escaped, the row keeps 4 cells
    assert "<script>" not in page and "{: .evil }" not in page and "*bold*" not in page
    assert "[link](" not in page
    assert "<var>pool</var>" in row


def test_a_rule_without_a_runbook_link_is_refused(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, "s", "http://h/wiki/offline")
    with pytest.raises(MonitoringFileError, match="runbook_url"):
        load_alert_rules(path)


def test_alerts_for_runbook_reads_the_given_file(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, "s", "https://h/docs/runbooks/jobs-queued.html")
    (found,) = alerts_for_runbook("jobs-queued", path)
    assert (found.name, found.runbook, found.team, found.expr) == (
        "OddAlert",
        "jobs-queued",
        "ci-platform",
        "up == 0",
    )
    assert alerts_for_runbook("runner-offline", path) == []


def test_a_missing_rules_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MonitoringFileError, match="cannot read"):
        load_alert_rules(tmp_path / "nope.yml")
