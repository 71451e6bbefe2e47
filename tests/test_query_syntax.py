"""Every query template, rendered with defaults and with hostile values, parses with the
real parsers: PromQL with `promtool check rules`, LogQL with Grafana's lezer-logql grammar.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import yaml

from tui.queries import (
    ParameterError,
    QueryTemplate,
    escape_regex,
    load_template_text,
    load_templates,
    quote_string,
    regex_problem,
)

REPO = Path(__file__).resolve().parent.parent
LOGQL_CHECK = REPO / "tools" / "logql-check"

# Values an attacker or an unlucky runner name could bring: string ends, escapes,
# comments, injected operators, raw-string ends, template syntax, control characters.
HOSTILE = [
    '"} or vector(1) #',
    '"} or vector(1) # ',
    'a"b',
    "back\\slash",
    "trailing\\",
    "\\",
    "\\\\\\",
    '\\"',
    "new\nline",
    "carriage\rreturn",
    "tab\there",
    "`tick`",
    "it's",
    "{{.host}}",
    "{instance}",
    ") or (",
    "]",
    "\x00nul\x07bel\x1b[31m",
    "\x7f\x85\u2028\u202e",
    "ünïcødé 😀 日本",
    "x|y",
    ".*",
    "| line_format `x`",
]
GRAFANA_INTERVALS = ("$__rate_interval", "$__auto", "$__interval", "$__range")


@dataclass(frozen=True)
class Case:
    template: str
    what: str
    query: str


def _literal_intervals(query: str) -> str:
    """Grafana's interval variables as the literal durations Grafana would send."""
    return re.sub(r"\$__(?:rate_interval|auto|interval|range)\b", "1m", query)


def _permissive(template: QueryTemplate) -> QueryTemplate:
    """The template with text patterns opened up, so hostile values reach the escaping.

    Type checks still hold: integers and durations stay what they are, regex values
    must still compile.
    """
    params = {
        name: replace(p, pattern=r"(?s).*") if p.type in ("string", "regex") else p
        for name, p in template.params.items()
    }
    return replace(template, params=params)


# Placeholders in every place the escaping distinguishes, beyond what queries/ uses today.
CONTEXT_PROBES = load_template_text(
    r"""
templates:
  - id: promql-contexts
    title: Probe
    description: Strings, regex matchers, backticks and bare values in PromQL.
    language: promql
    unit: none
    params:
      text: {type: string, default: x, pattern: '(?s).*', description: text}
      pick: {type: regex, default: a|b, pattern: '(?s).*', description: regex}
      n: {type: integer, default: "3", pattern: '[0-9]+', description: number}
      window: {type: duration, default: 5m, pattern: '.*', description: window}
    expr: |-
      topk({n}, sum by (v) (rate(up{v="{text}", w!~"{text}.x", x=~"web-{pick}", y=~`{text}`,
        z!~"{pick}"}[{window}] offset {window}))) > {n}
  - id: logql-contexts
    title: Probe
    description: Line filters, raw strings, parser stages and label filters in LogQL.
    language: logql
    unit: none
    params:
      text: {type: string, default: x, pattern: '(?s).*', description: text}
      pick: {type: regex, default: a|b, pattern: '(?s).*', description: regex}
      n: {type: integer, default: "3", pattern: '[0-9]+', description: number}
      window: {type: duration, default: 5m, pattern: '.*', description: window}
    expr: |-
      sum by (host) (count_over_time(
        {job="actions-runner", host=~"{pick}", runner="{text}"}
          |= "{text}" or "{text}" != `{text}` |~ "(?i){text}" or "{pick}" !~ `{pick}`
          | regexp "{text}(?P<rest>.*)" | logfmt | level=~"{pick}" | rest != "{text}"
          | line_format "{{.rest}}"
        [{window}]
      )) > {n}
""",
    "context-probes.yaml",
)


def _cases(language: str) -> list[Case]:
    cases: list[Case] = []
    for template in [*load_templates().values(), *CONTEXT_PROBES]:
        if template.language != language:
            continue
        cases.append(Case(template.id, "defaults", template.render()))
        open_template = _permissive(template)
        for value in HOSTILE:
            values = {}
            for name, param in template.params.items():
                if param.type == "string" or (
                    param.type == "regex" and regex_problem(value) is None
                ):
                    values[name] = value
            if not values:
                continue
            try:
                query = open_template.render(values)
            except ParameterError as exc:
                # Only a `...` string may refuse a value, and only for what it cannot hold.
                assert "backtick" in str(exc) or "control character" in str(exc), exc
                continue
            cases.append(Case(template.id, f"values={values!r}", query))
        for interval in GRAFANA_INTERVALS:
            durations = {n: interval for n, p in template.params.items() if p.type == "duration"}
            if durations:
                query = _literal_intervals(template.render(durations))
                cases.append(Case(template.id, f"durations={durations!r}", query))
    return cases


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: install it with `apt-get install -y prometheus` "
            "(Debian's package ships /usr/bin/promtool)"
        )
    return path


def _promtool_test(path: Path, spec: dict[str, object]) -> Path:
    """Write a promtool unit-test file (JSON is YAML) and assert `promtool test rules` passes."""
    path.write_text(json.dumps(spec, ensure_ascii=False, indent=1), encoding="utf-8")
    result = subprocess.run(
        [_promtool(), "test", "rules", str(path)],
        capture_output=True, text=True, timeout=120, cwd=path.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return path


def promql_failures(queries: list[str], tmp_path: Path) -> dict[int, str]:
    """Index -> promtool's complaint, for each query that does not parse."""
    rules = {
        "groups": [
            {
                "name": "runnerdoc-query-templates",
                "rules": [
                    {"record": f"runnerdoc_check:q{i}", "expr": q} for i, q in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    # JSON is YAML; non-ASCII stays raw because go-yaml refuses surrogate-pair escapes.
    path.write_text(json.dumps(rules, ensure_ascii=False, indent=1), encoding="utf-8")
    result = subprocess.run(
        [_promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    failures = {
        int(m.group(1)): line.strip()
        for line in output.splitlines()
        if (m := re.search(r'"runnerdoc_check:q(\d+)"', line))
    }
    if result.returncode != 0 and not failures:
        pytest.fail(f"promtool failed without naming a rule:\n{output}")
    if result.returncode == 0:
        assert not failures, output
    return failures


def logql_failures(queries: list[str]) -> dict[int, str]:
    """Index -> the parser's complaint, for each query that does not parse."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: install Node 20 (`apt-get install -y nodejs npm`)")
    if not (LOGQL_CHECK / "node_modules" / "@grafana" / "lezer-logql").is_dir():
        pytest.fail("the LogQL parser is not installed: run `npm ci --prefix tools/logql-check`")
    lines = "".join(json.dumps({"id": str(i), "query": q}) + "\n" for i, q in enumerate(queries))
    result = subprocess.run(
        [node, str(LOGQL_CHECK / "check.mjs")],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode not in (0, 1):
        pytest.fail(f"check.mjs failed: {result.stderr}")
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(reports) == len(queries), result.stdout + result.stderr
    failures = {int(r["id"]): r["error"] for r in reports if not r["ok"]}
    assert (result.returncode == 1) == bool(failures)
    return failures


def _report(cases: list[Case], failures: dict[int, str]) -> str:
    return "\n".join(
        f"{cases[i].template} ({cases[i].what}):\n  {cases[i].query!r}\n  -> {why}"
        for i, why in sorted(failures.items())
    )


def test_every_promql_template_parses_with_promtool(tmp_path: Path) -> None:
    cases = _cases("promql")
    assert len({c.template for c in cases}) >= 20
    assert len(cases) > 100  # hostile values really reached the templates
    failures = promql_failures([c.query for c in cases], tmp_path)
    assert not failures, _report(cases, failures)


def test_every_logql_template_parses_with_lezer_logql() -> None:
    cases = _cases("logql")
    assert len({c.template for c in cases}) >= 8
    assert len(cases) > 50
    failures = logql_failures([c.query for c in cases])
    assert not failures, _report(cases, failures)


def test_promtool_reports_a_broken_query(tmp_path: Path) -> None:
    naive = 'up{instance=~"{instance}"}'.replace("{instance}", 'a"b')  # no escaping
    queries = ["sum(up)", "sum(rate(up[5m])", naive, 'up{job="ok"}']
    assert set(promql_failures(queries, tmp_path)) == {1, 2}


def test_lezer_logql_reports_a_broken_query() -> None:
    naive = '{job="actions-runner"} |= "{text}"'.replace("{text}", 'a"b')  # no escaping
    queries = [
        '{job="actions-runner"} |= "ok"',
        '{job="actions-runner"} |= "unclosed',
        naive,
        'sum(rate({job="actions-runner"}[5m])',
        'rate({job="actions-runner"}[$__auto])',  # Grafana variables must be replaced first
    ]
    assert set(logql_failures(queries)) == {1, 2, 3, 4}


# Values whose regex-escaped form must match only themselves, under Prometheus's RE2
# (anchored, dot matching newline) -- near-misses sit side by side on purpose.
RE2_VALUES = [
    "a.b",
    "axb",
    "a*",
    "aaa",
    "a+",
    "aa",
    "a|b",
    "a",
    "b",
    "(x)",
    "x",
    "[x]",
    "{2}",
    "a{2}",
    "^a$",
    "\\",
    "\\\\",
    "\\d",
    "1",
    "a\nb",
    "a b",
    '"} or vector(1) #',
    "ünï.😀",
    "?",
    "\t",
    "`",
]


def test_regex_escaped_values_match_only_themselves_in_prometheus(tmp_path: Path) -> None:
    """Prometheus's own engine (promtool test rules) evaluates the escaped matchers."""
    assert len(set(RE2_VALUES)) == len(RE2_VALUES)
    series = [
        {"series": f'probe{{i="{i}", v="{quote_string(v)}"}}', "values": "1"}
        for i, v in enumerate(RE2_VALUES)
    ]
    tests = []
    for v in RE2_VALUES:
        for matcher in (f'v=~"{quote_string(escape_regex(v))}"', f'v="{quote_string(v)}"'):
            tests.append(
                {
                    "expr": f"count(probe{{{matcher}}})",
                    "eval_time": "0m",
                    "exp_samples": [{"labels": "{}", "value": 1}],
                }
            )
    (tmp_path / "empty.yml").write_text("groups: []\n", encoding="utf-8")
    spec = {
        "rule_files": ["empty.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}],
    }
    path = _promtool_test(tmp_path / "test.yml", spec)
    # The test file above is valid YAML as written (it was not mangled on the way).
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["tests"][0]["promql_expr_test"]


# --- What the PromQL templates return, evaluated by Prometheus's engine ------------------

# A small fleet, as node_exporter and `runnerdoc exporter` would expose it: host a is
# busy and filling its disk, host b is idle with its runner service failed and its clock
# 400 s behind, host c has no runner service at all. Values per minute, 0m to 20m.
_A = 'instance="a:9100", runner="r-a", job="node"'
_B = 'instance="b:9100", runner="r-b", job="node"'
_C = 'instance="c:9100", runner="r-c", job="node"'
_ROOT = 'mountpoint="/", fstype="ext4", device="/dev/sda1"'
_HOME = 'mountpoint="/home", fstype="ext4", device="/dev/sdb1"'
_RUN = 'mountpoint="/run", fstype="tmpfs", device="tmpfs"'
_EXPORTER = 'job="runnerdoc", instance="exporter:9108"'
_PUSHED = 'job="runnerdoc_deployments", instance="", repository="acme/app", environment="prod"'
FLEET_SERIES = {
    f'node_cpu_seconds_total{{{_A}, cpu="0", mode="idle"}}': "0+30x20",
    f'node_cpu_seconds_total{{{_A}, cpu="1", mode="idle"}}': "0+30x20",
    f'node_cpu_seconds_total{{{_A}, cpu="0", mode="user"}}': "0+30x20",
    f'node_cpu_seconds_total{{{_A}, cpu="1", mode="user"}}': "0+30x20",
    f'node_cpu_seconds_total{{{_B}, cpu="0", mode="idle"}}': "0+60x20",
    f"node_memory_MemAvailable_bytes{{{_A}}}": "2147483648x20",
    f"node_memory_MemTotal_bytes{{{_A}}}": "8589934592x20",
    f"node_filesystem_size_bytes{{{_A}, {_ROOT}}}": "1024x20",
    f"node_filesystem_avail_bytes{{{_A}, {_ROOT}}}": "316-6x20",
    f"node_filesystem_size_bytes{{{_A}, {_HOME}}}": "1024x20",
    f"node_filesystem_avail_bytes{{{_A}, {_HOME}}}": "768x20",
    f"node_filesystem_size_bytes{{{_A}, {_RUN}}}": "1024x20",
    f"node_filesystem_avail_bytes{{{_A}, {_RUN}}}": "1x20",
    f"node_filesystem_size_bytes{{{_B}, {_ROOT}}}": "2048x20",
    f"node_filesystem_avail_bytes{{{_B}, {_ROOT}}}": "1024x20",
    f"node_filesystem_files{{{_A}, {_ROOT}}}": "1000x20",
    f"node_filesystem_files_free{{{_A}, {_ROOT}}}": "100x20",
    f"node_filesystem_files{{{_A}, {_HOME}}}": "1000x20",
    f"node_filesystem_files_free{{{_A}, {_HOME}}}": "500x20",
    f"node_filesystem_files{{{_A}, {_RUN}}}": "1000x20",
    f"node_filesystem_files_free{{{_A}, {_RUN}}}": "1x20",
    f"node_filesystem_files{{{_B}, {_ROOT}}}": "2000x20",
    f"node_filesystem_files_free{{{_B}, {_ROOT}}}": "1000x20",
    f"node_load1{{{_A}}}": "3x20",
    f"node_load1{{{_B}}}": "0.5x20",
    f"node_load1{{{_C}}}": "0.1x20",
    f'node_systemd_unit_state{{{_A}, name="actions.runner.acme.r-a.service", state="active", type="simple"}}': "1x20",  # noqa: E501
    f'node_systemd_unit_state{{{_A}, name="actions.runner.acme.r-a.service", state="failed", type="simple"}}': "0x20",  # noqa: E501
    f'node_systemd_unit_state{{{_B}, name="actions.runner.acme.r-b.service", state="active", type="simple"}}': "0x20",  # noqa: E501
    f'node_systemd_unit_state{{{_B}, name="actions.runner.acme.r-b.service", state="failed", type="simple"}}': "1x20",  # noqa: E501
    f'node_systemd_unit_state{{{_C}, name="ssh.service", state="active", type="notify"}}': "1x20",
    f"node_time_seconds{{{_A}}}": "0+60x20",
    f"node_time_seconds{{{_B}}}": "-400+60x20",
    f"node_timex_offset_seconds{{{_A}}}": "0.25x20",
    f"node_timex_offset_seconds{{{_B}}}": "-0.5x20",
    f"up{{{_A}}}": "1x20",
    f"up{{{_B}}}": "0x20",
    'up{job="prometheus", instance="localhost:9090"}': "1x20",
    f'runnerdoc_runner_online{{{_EXPORTER}, runner="r-a", runner_id="1", pool="linux"}}': "1x20",
    f'runnerdoc_runner_busy{{{_EXPORTER}, runner="r-a", runner_id="1", pool="linux"}}': "1x20",
    f'runnerdoc_runner_online{{{_EXPORTER}, runner="r-b", runner_id="2", pool="linux"}}': "1x20",
    f'runnerdoc_runner_busy{{{_EXPORTER}, runner="r-b", runner_id="2", pool="linux"}}': "0x20",
    f'runnerdoc_runner_online{{{_EXPORTER}, runner="r-c", runner_id="3", pool="linux"}}': "0x20",
    f'runnerdoc_runner_busy{{{_EXPORTER}, runner="r-c", runner_id="3", pool="linux"}}': "1x20",
    f'runnerdoc_runner_online{{{_EXPORTER}, runner="g-1", runner_id="4", pool="gpu"}}': "0x20",
    f'runnerdoc_runner_busy{{{_EXPORTER}, runner="g-1", runner_id="4", pool="gpu"}}': "0x20",
    f'runnerdoc_runner_info{{{_EXPORTER}, runner="r-a", runner_id="1", pool="linux", os="Linux", version="2.300.0", group="Default", labels="self-hosted,linux"}}': "1x20",  # noqa: E501
    f'runnerdoc_runner_info{{{_EXPORTER}, runner="r-b", runner_id="2", pool="linux", os="Linux", version="2.321.0", group="Default", labels="self-hosted,linux"}}': "1x20",  # noqa: E501
    f'runnerdoc_runner_info{{{_EXPORTER}, runner="r-c", runner_id="3", pool="linux", os="Linux", version="2.321.0", group="Default", labels="self-hosted,linux"}}': "1x20",  # noqa: E501
    f'runnerdoc_runners{{{_EXPORTER}, pool="linux", state="orphan"}}': "1x20",
    f'runnerdoc_queued_jobs{{{_EXPORTER}, repository="acme/app", pool="gpu"}}': "3x20",
    f'runnerdoc_queued_job_oldest_seconds{{{_EXPORTER}, repository="acme/app", pool="gpu"}}': "0+60x20",  # noqa: E501
    f'runnerdoc_runner_version_deprecated{{{_EXPORTER}, runner="r-a", version="2.300.0"}}': "1x20",
    f'runnerdoc_github_rate_limit_remaining{{{_EXPORTER}, resource="core"}}': "1250x20",
    f'runnerdoc_github_rate_limit_limit{{{_EXPORTER}, resource="core"}}': "5000x20",
    f'runnerdoc_github_rate_limit_remaining{{{_EXPORTER}, resource="graphql"}}': "0x20",
    f'runnerdoc_github_rate_limit_limit{{{_EXPORTER}, resource="graphql"}}': "0x20",
    f'runnerdoc_github_poll_errors_total{{{_EXPORTER}, kind="auth"}}': "0+60x20",
    f'runnerdoc_github_poll_errors_total{{{_EXPORTER}, kind="network"}}': "0x20",
    f"runnerdoc_github_last_success_timestamp_seconds{{{_EXPORTER}}}": "-120+60x20",
    f"runnerdoc_github_poll_duration_seconds{{{_EXPORTER}}}": "4x20",
    f'runnerdoc_deployment_success{{{_PUSHED}, version="1.2.3"}}': "0x20",
    f'runnerdoc_deployment_duration_seconds{{{_PUSHED}, version="1.2.3"}}': "95x20",
    f'runnerdoc_deployment_timestamp_seconds{{{_PUSHED}, version="1.2.3"}}': "300x20",
}
_HA = '{instance="a:9100", runner="r-a"}'
_HB = '{instance="b:9100", runner="r-b"}'
_HC = '{instance="c:9100", runner="r-c"}'
# template id -> the series it must return at 10m (labels exactly; values within 1e-6).
FLEET_EXPECTED: dict[str, dict[str, float]] = {
    "host-cpu-busy-ratio": {_HA: 0.5, _HB: 0.0},
    "host-memory-available-ratio": {_HA: 0.25},
    "host-disk-used-ratio": {_HA: 0.75, _HB: 0.5},  # the tmpfs at 99.9 % is left out
    "host-filesystems-used-ratio": {
        '{instance="a:9100", runner="r-a", mountpoint="/"}': 0.75,
        '{instance="a:9100", runner="r-a", mountpoint="/home"}': 0.25,
        '{instance="b:9100", runner="r-b", mountpoint="/"}': 0.5,
    },
    "host-disk-hours-until-full": {_HA: 256 / 0.1 / 3600},  # 6 bytes a minute, 256 left
    "host-inodes-free-ratio": {_HA: 0.1, _HB: 0.5},
    "host-load-per-cpu": {_HA: 1.5, _HB: 0.5},
    "host-systemd-unit-active": {_HA: 1, _HB: 0, _HC: 0},
    "host-clock-offset-seconds": {_HA: 0, _HB: 400},
    "host-ntp-offset-seconds": {_HA: 0.25, _HB: 0.5},
    "host-exporter-up": {_HA: 1, _HB: 0},
    "runner-online": {
        '{runner="r-a", runner_id="1", pool="linux"}': 1,
        '{runner="r-b", runner_id="2", pool="linux"}': 1,
        '{runner="r-c", runner_id="3", pool="linux"}': 0,
        '{runner="g-1", runner_id="4", pool="gpu"}': 0,
    },
    "runner-orphaned": {
        '{runner="r-a", runner_id="1", pool="linux"}': 0,
        '{runner="r-b", runner_id="2", pool="linux"}': 0,
        '{runner="r-c", runner_id="3", pool="linux"}': 1,
        '{runner="g-1", runner_id="4", pool="gpu"}': 0,
    },
    "runner-busy": {
        '{runner="r-a", runner_id="1", pool="linux"}': 1,
        '{runner="r-b", runner_id="2", pool="linux"}': 0,
        '{runner="r-c", runner_id="3", pool="linux"}': 1,
        '{runner="g-1", runner_id="4", pool="gpu"}': 0,
    },
    "runner-versions": {
        '{pool="linux", version="2.300.0"}': 1,
        '{pool="linux", version="2.321.0"}': 2,
    },
    "pool-online-runners": {'{pool="linux"}': 2, '{pool="gpu"}': 0},
    "pool-busy-ratio": {'{pool="linux"}': 0.5},  # gpu has no runner online
    "fleet-runners-by-state": {'{pool="linux", state="orphan"}': 1},
    "queued-jobs": {'{repository="acme/app", pool="gpu"}': 3},
    "queued-job-oldest-seconds": {'{repository="acme/app", pool="gpu"}': 600},
    "runner-version-deprecated": {'{runner="r-a", version="2.300.0"}': 1},
    "github-rate-limit-remaining-ratio": {'{resource="core"}': 0.25},
    "github-poll-errors-rate": {'{kind="auth"}': 1, '{kind="network"}': 0},
    "github-last-success-age-seconds": {"{}": 120},
    "github-poll-duration-seconds": {"{}": 4},
    "deployment-success": {'{repository="acme/app", environment="prod", version="1.2.3"}': 0},
    "deployment-duration-seconds": {
        '{repository="acme/app", environment="prod", version="1.2.3"}': 95
    },
    "deployment-age-seconds": {'{repository="acme/app", environment="prod"}': 300},
}


def _nearest_1024th(value: float) -> float:
    """What PromQL's round(v, 1/1024) gives: exact in binary, so it compares exactly."""
    return math.floor(value * 1024 + 0.5) / 1024


def test_promql_templates_return_what_the_on_call_expects(tmp_path: Path) -> None:
    templates = load_templates()
    promql = {t.id for t in templates.values() if t.language == "promql"}
    assert set(FLEET_EXPECTED) == promql, "every PromQL template is evaluated here"
    # One test per template listing every series it must return, so a missing series,
    # an extra series, a lost label or a wrong value each fail it.
    checks = [
        {
            "expr": f"round(({templates[template_id].render()}), 0.0009765625)",
            "eval_time": "10m",
            "exp_samples": [
                {"labels": labels, "value": _nearest_1024th(value)}
                for labels, value in expected.items()
            ],
        }
        for template_id, expected in FLEET_EXPECTED.items()
    ]
    (tmp_path / "empty.yml").write_text("groups: []\n", encoding="utf-8")
    spec = {
        "rule_files": ["empty.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": k, "values": v} for k, v in FLEET_SERIES.items()],
                "promql_expr_test": checks,
            }
        ],
    }
    _promtool_test(tmp_path / "fleet.yml", spec)
