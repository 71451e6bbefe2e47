"""Scenario reports: results.json (what the site page is built from), a Markdown report and
JUnit XML for CI, all from the same results."""

from __future__ import annotations

import html
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tui.text import one_line, safe_text

RESULTS = "results.json"
MARKDOWN = "report.md"
JUNIT = "junit.xml"
REPO = Path(__file__).resolve().parent.parent.parent
GENERATED = Path("docs") / "_generated" / "scenarios"
NOT_RUN_YET = (
    "No scenario has been run here yet; run "
    "`runnerdoc scenario run --all --live --report docs/_generated/scenarios`."
)


def write_reports(results: Mapping[str, Any], folder: Path) -> list[Path]:
    """results.json, report.md and junit.xml in `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        (RESULTS, json.dumps(results, indent=1, ensure_ascii=True) + "\n"),
        (MARKDOWN, report_markdown(results)),
        (JUNIT, junit_xml(results)),
    ):
        path = folder / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # a reader never sees half a report
        written.append(path)
    return written


# ----- Markdown -------------------------------------------------------------------------------


def _cell(text: Any, limit: int = 300) -> str:
    # Runner names, log lines and API errors end up here: as text, never as HTML or a new cell.
    return html.escape(one_line(str(text), limit=limit), quote=False).replace("|", "\\|")


def _saw(step: Mapping[str, Any]) -> str:
    if step["state"] == "failed":
        return "see below"
    return _cell(step.get("seen") or "", limit=200) if step["state"] == "passed" else "–"


def _seconds(value: Any) -> str:
    return "–" if value is None else f"{float(value):.1f}"


def _fenced(text: str) -> list[str]:
    """A fence longer than any run of backticks inside, so outside text cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", safe_text(text, keep_newlines=True), fence]


def _when(epoch: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(epoch)))
    except (TypeError, ValueError):
        return "unknown"


def _mark(state: str) -> str:
    return {"passed": "pass", "failed": "**FAIL**", "skipped": "skipped"}.get(state, state)


def _summary_table(results: Mapping[str, Any]) -> list[str]:
    lines = [
        "| scenario | result | seconds | injection → right finding (s) "
        "| injection → recovery (s) |",
        "|---|---|---:|---:|---:|",
    ]
    for s in results.get("scenarios", []):
        lines.append(
            f"| {_cell(s['name'])} | {_mark(s['state'])} | {_seconds(s.get('seconds'))} | "
            f"{_seconds(s.get('finding_seconds'))} | {_seconds(s.get('recovery_seconds'))} |"
        )
    return lines


def _scenario_section(s: Mapping[str, Any], level: str) -> list[str]:
    lines = [f"{level} {_cell(s['name'])}: {_mark(s['state'])}", "", _cell(s.get("title", ""))]
    facts = [f"{_seconds(s.get('seconds'))} s in all"]
    if s.get("runners"):
        facts.append("runners " + ", ".join(_cell(r) for r in s["runners"]))
    if s.get("finding_seconds") is not None:
        facts.append(f"{_seconds(s['finding_seconds'])} s from injection to the right finding")
    if s.get("recovery_seconds") is not None:
        facts.append(f"{_seconds(s['recovery_seconds'])} s from injection to recovery")
    lines += ["", "; ".join(facts) + ".", ""]
    if s["state"] == "skipped":
        return [*lines, f"Skipped: {_cell(s.get('reason', ''))}", ""]
    lines += [
        "| # | step | asserts | result | seconds | deadline (s) | what it saw |",
        "|---:|---|---|---|---:|---:|---|",
    ]
    for n, step in enumerate(s.get("steps", []), start=1):
        title = ("cleanup: " if step.get("cleanup") else "") + step["title"]
        lines.append(
            f"| {n} | {_cell(title)} | {_cell(step['asserts'])} | {_mark(step['state'])} | "
            f"{_seconds(step.get('seconds') if step['state'] != 'not run' else None)} | "
            f"{float(step.get('deadline', 0)):g} | {_saw(step)} |"
        )
    failures = [st for st in s.get("steps", []) if st["state"] == "failed"]
    for step in failures:
        lines += ["", f"What `{_cell(step['title'])}` saw instead:", "", *_fenced(step["seen"])]
    lines.append("")
    return lines


def report_markdown(results: Mapping[str, Any]) -> str:
    scenarios = results.get("scenarios", [])
    passed = sum(1 for s in scenarios if s["state"] == "passed")
    failed = sum(1 for s in scenarios if s["state"] == "failed")
    skipped = sum(1 for s in scenarios if s["state"] == "skipped")
    lines = [
        "# Failure scenarios",
        "",
        f"Run {_when(results.get('started_at'))} against {_cell(results.get('environment', '?'))}"
        f": {passed} passed, {failed} failed, {skipped} skipped, "
        f"{_seconds(results.get('seconds'))} s in all.",
        "",
        *_summary_table(results),
        "",
    ]
    for s in scenarios:
        lines += _scenario_section(s, "##")
    return "\n".join(lines).rstrip() + "\n"


# ----- JUnit XML --------------------------------------------------------------------------------


def _xml_text(text: Any) -> str:
    # XML 1.0 has no place for control characters; safe_text makes them visible instead.
    return safe_text(str(text), keep_newlines=True)


def junit_xml(results: Mapping[str, Any]) -> str:
    """One testsuite, one testcase per scenario; a failure carries the failed step and what it
    saw, and every step's timing goes to system-out."""
    scenarios = results.get("scenarios", [])
    suite = ET.Element(
        "testsuite",
        {
            "name": "runnerdoc scenarios",
            "tests": str(len(scenarios)),
            "failures": str(sum(1 for s in scenarios if s["state"] == "failed")),
            "errors": "0",
            "skipped": str(sum(1 for s in scenarios if s["state"] == "skipped")),
            "time": f"{float(results.get('seconds') or 0):.2f}",
            "timestamp": time.strftime(
                "%Y-%m-%dT%H:%M:%S", time.gmtime(float(results.get("started_at") or 0))
            ),
        },
    )
    props = ET.SubElement(suite, "properties")
    environment = _xml_text(results.get("environment", ""))
    ET.SubElement(props, "property", {"name": "environment", "value": environment})
    for s in scenarios:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": "runnerdoc.scenarios",
                "name": _xml_text(s["name"]),
                "time": f"{float(s.get('seconds') or 0):.2f}",
            },
        )
        if s["state"] == "skipped":
            ET.SubElement(case, "skipped", {"message": _xml_text(one_line(s.get("reason", "")))})
            continue
        if s["state"] == "failed":
            failed = [st for st in s.get("steps", []) if st["state"] == "failed"]
            body = "\n\n".join(f"{st['title']}:\n{st['seen']}" for st in failed)
            failure = ET.SubElement(
                case,
                "failure",
                {"message": _xml_text(one_line(s.get("reason", "") or "failed", limit=500)),
                 "type": "ScenarioFailed"},
            )  # fmt: skip
            failure.text = _xml_text(body)
        out = ET.SubElement(case, "system-out")
        out.text = _xml_text(
            "\n".join(
                f"{'cleanup: ' if st.get('cleanup') else ''}{st['title']}: {st['state']}"
                + (f" in {float(st.get('seconds') or 0):.1f} s" if st["state"] != "not run" else "")
                for st in s.get("steps", [])
            )
        )
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


# ----- the site page -----------------------------------------------------------------------------


def _load(source: Path | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    if path.is_dir():
        path = path / RESULTS
    return json.loads(path.read_text(encoding="utf-8"))


def scenario_results_markdown(source: Path | str | Mapping[str, Any]) -> str:
    """The site's "Scenario results" page from a report folder, a results.json or its data."""
    results = _load(source)
    scenarios = results.get("scenarios", [])
    failed = [s for s in scenarios if s["state"] == "failed"]
    verdict = (
        "every scenario passed"
        if not failed
        else f"{len(failed)} scenario(s) failed: {', '.join(_cell(s['name']) for s in failed)}"
    )
    lines = [
        "# Scenario results",
        "",
        "The failure scenarios of story INFRA-474, and one per lab fault, run against "
        f"{_cell(results.get('environment', '?'))} on {_when(results.get('started_at'))}: "
        f"{verdict} ({_seconds(results.get('seconds'))} s in all).",
        "",
        "Each scenario breaks something on purpose, then checks, step by step and against a "
        "deadline, that runnerdoc notices and that the runbook fixes it. Run them yourself "
        "with `runnerdoc scenario run --all --live --lab` (`runnerdoc lab up` first).",
        "",
        "A fault scenario runs its runbook only after the fault's alert has fired and been "
        "sent, as an on-call engineer would, so its time from injection to recovery includes "
        "that wait; each step's own time is in the scenario's table.",
        "",
        *_summary_table(results),
        "",
    ]
    for s in scenarios:
        lines += _scenario_section(s, "##")
    return "\n".join(lines).rstrip() + "\n"


def latest_results_markdown(root: Path | None = None, folder: Path | str | None = None) -> str:
    """The page from the latest report, or a note that nothing ran yet.

    The report is read from `folder` when given (a CI artefact, say), otherwise from
    docs/_generated/scenarios under `root`, where `./dev test` leaves its live run's report.
    """
    base = Path(folder) if folder else (REPO if root is None else Path(root)) / GENERATED
    path = base / RESULTS
    if not path.is_file():
        return f"# Scenario results\n\n{NOT_RUN_YET}\n"
    try:
        return scenario_results_markdown(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return (
            f"# Scenario results\n\nThe last results ({path.name}) cannot be read "
            f"({type(e).__name__}). {NOT_RUN_YET}\n"
        )
