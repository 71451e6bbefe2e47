"""Query templates: loading, one-line load errors, context-aware escaping, the reference
page and the LogQL highlighter.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pygments.lexers import get_lexer_by_name
from pygments.token import Error, Name, Operator, String

from tui.queries import (
    QUERIES_DIR,
    ParameterError,
    QueryTemplate,
    TemplateError,
    escape_regex,
    load_template_file,
    load_template_text,
    load_templates,
    quote_string,
    reference_markdown,
    regex_problem,
)

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus" / "queries"

CONTRACT_PROMQL = (
    "fleet-runners-by-state runner-online runner-orphaned pool-online-runners pool-busy-ratio "
    "queued-jobs queued-job-oldest-seconds github-rate-limit-remaining-ratio "
    "github-poll-errors-rate runner-version-deprecated host-cpu-busy-ratio "
    "host-memory-available-ratio host-disk-used-ratio host-disk-hours-until-full "
    "host-inodes-free-ratio host-load-per-cpu host-systemd-unit-active "
    "host-clock-offset-seconds deployment-success deployment-duration-seconds"
).split()
CONTRACT_LOGQL = (
    "runner-error-logs runner-connect-errors runner-log-search disk-full-lines oom-lines "
    "token-failure-lines docker-daemon-errors runner-error-rate"
).split()


# --- Loading the real templates -------------------------------------------------------


def test_contract_templates_exist_in_their_language() -> None:
    templates = load_templates()
    for template_id in CONTRACT_PROMQL:
        assert templates[template_id].language == "promql", template_id
    for template_id in CONTRACT_LOGQL:
        assert templates[template_id].language == "logql", template_id


def test_default_folder_is_the_repos_queries_folder() -> None:
    assert QUERIES_DIR == REPO / "queries"
    assert load_templates() == load_templates(REPO / "queries")
    assert {t.source.name for t in load_templates().values()} == {
        p.name for p in (REPO / "queries").glob("*.yaml")
    }


@pytest.mark.parametrize("template_id", sorted(load_templates()))
def test_template_renders_with_defaults(template_id: str) -> None:
    template = load_templates()[template_id]
    query = template.render()
    assert query == template.render(template.defaults())
    assert not re.search(r"(?<!\{)\{[a-z_][a-z0-9_]*\}", query), "placeholder left behind"
    assert template.title and template.description and template.unit
    assert template.source.parent == QUERIES_DIR
    first_line = template.source.read_text(encoding="utf-8").splitlines()[template.line - 1]
    assert f"id: {template_id}" in first_line


def test_per_host_templates_return_every_host_with_instance_and_runner() -> None:
    for template_id, template in load_templates().items():
        if not template_id.startswith("host-"):
            continue
        instance = template.params["instance"]
        assert (instance.type, instance.default) == ("regex", ".+"), template_id
        # Every aggregation keeps both labels, so the fleet comes back in one query.
        groupings = re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", template.expr)
        assert groupings, template_id
        for grouping in groupings:
            labels = {label.strip() for label in grouping.split(",")}
            assert {"instance", "runner"} <= labels, (template_id, grouping)


def test_systemd_unit_template_looks_for_the_runner_service_by_default() -> None:
    unit = load_templates()["host-systemd-unit-active"].params["unit"]
    assert (unit.type, unit.default) == ("regex", r"actions\.runner\..+")
    assert re.fullmatch(unit.default, "actions.runner.acme-org.build-07.service")


# --- Load errors: one line, file and line ---------------------------------------------


CORPUS_FILES = sorted(CORPUS.glob("*.yaml"))


def test_corpus_has_the_broken_templates() -> None:
    assert len(CORPUS_FILES) >= 20


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_broken_template_file_names_file_line_and_problem(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# expect: (\d+): (.+)", header)
    assert match, f"{path.name} must start with '# expect: LINE: MESSAGE'"
    monkeypatch.chdir(REPO)
    with pytest.raises(TemplateError) as caught:
        load_template_file(path)
    expected = f"tests/corpus/queries/{path.name}:{match.group(1)}: {match.group(2)}"
    assert str(caught.value) == expected
    assert "\n" not in str(caught.value)
    assert (caught.value.path, caught.value.line) == (
        f"tests/corpus/queries/{path.name}",
        int(match.group(1)),
    )


def test_duplicate_id_across_files_names_both_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = "templates:\n  - id: host-load\n    title: L\n    description: D\n"
    one += "    language: promql\n    unit: short\n    expr: node_load1\n"
    (tmp_path / "a.yaml").write_text(one, encoding="utf-8")
    (tmp_path / "b.yaml").write_text("# second\n" + one, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplateError) as caught:
        load_templates(tmp_path)
    assert str(caught.value) == "b.yaml:3: duplicate id 'host-load' (first in a.yaml:2)"


def test_missing_folder_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no such folder"):
        load_templates(tmp_path / "nope")


# --- Escaping: the properties that keep values inside their strings --------------------


def decode_go_string(text: str, start: int) -> tuple[str, int]:
    """Decode the Go double-quoted literal at text[start]; return (value, index after it).

    Written from the Go spec (and PromQL's lexer), independently of tui.queries.
    """
    assert text[start] == '"'
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
    out = bytearray()
    i = start + 1
    while True:
        ch = text[i]
        if ch == '"':
            return out.decode("utf-8"), i + 1  # strict: invalid UTF-8 raises
        if ch == "\n":
            raise ValueError("newline in a Go string literal")
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        kind = text[i + 1]
        if kind in simple:
            out.append(simple[kind])
            i += 2
        elif kind == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        elif kind in "01234567":
            out.append(int(text[i + 1 : i + 4], 8))
            i += 4
        elif kind in "uU":
            width = 4 if kind == "u" else 8
            digits = text[i + 2 : i + 2 + width]
            assert re.fullmatch(r"[0-9a-fA-F]+", digits) and len(digits) == width
            code = int(digits, 16)
            assert not 0xD800 <= code <= 0xDFFF and code <= 0x10FFFF
            out += chr(code).encode("utf-8")
            i += 2 + width
        else:
            raise ValueError(f"invalid escape \\{kind}")


def split_query(query: str) -> list[tuple[str, str]]:
    """The query as ("bare", text) and ("string", decoded value) parts."""
    parts: list[tuple[str, str]] = []
    bare_start = 0
    i = 0
    while i < len(query):
        if query[i] == '"':
            parts.append(("bare", query[bare_start:i]))
            value, i = decode_go_string(query, i)
            parts.append(("string", value))
            bare_start = i
        elif query[i] == "`":
            end = query.index("`", i + 1)
            parts.append(("bare", query[bare_start:i]))
            parts.append(("raw", query[i + 1 : end]))
            i = bare_start = end + 1
        else:
            i += 1
    parts.append(("bare", query[bare_start:]))
    return parts


PROBE = load_template_text(
    r"""
templates:
  - id: probe
    title: Probe
    description: Every kind of placeholder place.
    language: promql
    unit: none
    params:
      value: {type: string, default: x, pattern: '(?s).*', description: any text}
      pick: {type: regex, default: a|b, pattern: '(?s).*', description: a regex}
      n: {type: integer, default: "5", pattern: '[0-9]+', description: a number}
      window: {type: duration, default: 5m, pattern: '(?s).*', description: a window}
    expr: |-
      topk({n}, sum by (v) (rate(up{v="pre {value} post", w=~"{value}", x=~"{pick}",
        y=~"web-{pick}"}[{window}]))) or vector({n})
""",
    "probe.yaml",
)[0]

LOGQL_PROBE = load_template_text(
    r"""
templates:
  - id: logql-probe
    title: Probe
    description: Raw strings and line filters.
    language: logql
    unit: none
    params:
      value: {type: string, default: x, pattern: '(?s).*', description: any text}
    expr: |-
      {job="actions-runner"} |= `{value}` |~ "(?i){value}" != "{value}"
""",
    "logql-probe.yaml",
)[0]

# Text of every kind, with the characters that matter for quoting drawn often.
TEXT = st.text(
    st.one_of(
        st.characters(exclude_categories=("Cs",)),
        st.sampled_from([*"\"\\`'\n\r\t\x00\x1b\x7f\x85\u2028{}#|()[].*+?^$ ", "😀"]),
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(TEXT)
@example('"} or vector(1) #')
@example("\\")
@example('\\"')
@example("\x00\x01\u202e\U0010ffff")
def test_string_value_decodes_back_exactly_and_leaves_the_query_intact(value: str) -> None:
    query = PROBE.render({"value": value})
    parts = split_query(query)
    reference = split_query(PROBE.render({"value": "x"}))
    # The same bare text around the same number of strings: the structure is unchanged.
    assert [p for p in parts if p[0] == "bare"] == [p for p in reference if p[0] == "bare"]
    strings = [p[1] for p in parts if p[0] == "string"]
    assert strings[0] == f"pre {value} post"
    # Inside =~ the value is a regex that matches exactly itself (Prometheus anchors it).
    assert re.fullmatch(strings[1], value, re.DOTALL)
    for other in (value + "x", value[:-1], "x" + value):
        if other != value:
            assert not re.fullmatch(strings[1], other, re.DOTALL)
    assert strings[1] == escape_regex(value)


@settings(max_examples=300)
@given(TEXT)
def test_regex_escaping_matches_only_the_value_itself(value: str) -> None:
    pattern = escape_regex(value)
    assert re.fullmatch(pattern, value, re.DOTALL)
    assert re.fullmatch(pattern, value + value, re.DOTALL) is None or value == ""
    # Every RE2 metacharacter is escaped, and nothing else is touched.
    assert pattern.replace("\\", "") == value.replace("\\", "")


@settings(max_examples=200)
@given(TEXT)
def test_quoted_string_decodes_to_the_value(value: str) -> None:
    literal = f'"{quote_string(value)}"'
    assert decode_go_string(literal, 0) == (value, len(literal))
    assert "\n" not in literal and all(ch.isprintable() for ch in literal)


@given(st.from_regex(r"[a-z0-9|.*+?]{1,10}", fullmatch=True))
def test_regex_value_is_kept_whole_and_grouped_when_part_of_a_string(value: str) -> None:
    if regex_problem(value) is not None:
        with pytest.raises(ParameterError, match="not a valid regular expression"):
            PROBE.render({"pick": value})
        return
    strings = [p[1] for p in split_query(PROBE.render({"pick": value})) if p[0] == "string"]
    assert strings[2] == value
    assert strings[3] == f"web-(?:{value})"  # an alternation cannot swallow "web-"


@settings(max_examples=300)
@given(TEXT)
def test_raw_string_carries_the_value_verbatim_or_refuses_it(value: str) -> None:
    # A raw string has no escapes: a backtick would end it, and Go drops \r from it.
    refused = "`" in value or any(
        unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value
    )
    if refused:
        with pytest.raises(ParameterError, match=r"backtick|control character"):
            LOGQL_PROBE.render({"value": value})
        return
    parts = split_query(LOGQL_PROBE.render({"value": value}))
    assert [p for p in parts if p[0] != "bare"] == [
        ("string", "actions-runner"),
        ("raw", value),
        ("string", "(?i)" + escape_regex(value)),
        ("string", value),
    ]


@given(st.text(max_size=12))
@example("90")
@example("1h30m")
@example("5m] or vector(1)")
@example("-1")
def test_bare_values_are_only_numbers_and_durations(value: str) -> None:
    is_number = re.fullmatch(r"[0-9]{1,18}", value) is not None
    if is_number:
        assert PROBE.render({"n": value}).startswith(f"topk({value}, ")
    else:
        with pytest.raises(ParameterError):
            PROBE.render({"n": value})
    is_duration = re.fullmatch(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+", value) is not None
    if not is_duration:
        with pytest.raises(ParameterError, match="not a duration"):
            PROBE.render({"window": value})


def test_grafana_interval_variables_are_durations() -> None:
    assert "[$__rate_interval]" in PROBE.render({"window": "$__rate_interval"})


# --- LogQL line filters match what the runner really prints ----------------------------

# Lines as the runner, the kernel and Docker write them (shared/reference/runner-log-signatures.md).
RUNNER_LINES = {
    "runner-connect-errors": [
        "2024-05-01 10:00:00Z: Runner connect error: The HTTP request timed out after "
        "00:01:40.. Retrying until reconnected.",
        "[2024-05-01 10:00:00Z ERR GitHubActionsService] Resource temporarily unavailable "
        "(api.github.com:443)",
        "The SSL connection could not be established, see inner exception.",
    ],
    "disk-full-lines": [
        "System.IO.IOException: No space left on device : '/home/runner/_work/app/app/out.bin'",
        "You are running out of disk space. The runner will stop working when the machine "
        "runs out of disk space. Free space left: 92 MB",
    ],
    "oom-lines": [
        "Out of memory: Killed process 4242 (Runner.Worker) total-vm:8123456kB",
        "Runner.Worker invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE), order=0",
        "Process completed with exit code 137.",
    ],
    "token-failure-lines": [
        "Failed to create a session. The runner registration has been deleted from the "
        "server, please re-configure.",
        "Runner OAuth token has been revoked. Session creation failed.",
        "The runner no longer exists on the server. Please reconfigure the runner.",
        "Http response code: NotFound from 'POST https://api.github.com/actions/runner-registration'",
        "Response status code does not indicate success: 404 (Not Found).",
        "Not configured. Run config.(sh/cmd) to configure the runner.",
    ],
    "docker-daemon-errors": [
        "permission denied while trying to connect to the Docker daemon socket at "
        "unix:///var/run/docker.sock: Get http://%2Fvar%2Frun%2Fdocker.sock/v1.24/info",
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?",
    ],
    "clock-skew-lines": [
        "The local machine's clock may be out of sync with the server time by more than "
        "five minutes."
    ],
    "version-deprecated-lines": [
        "An error occurred: Runner version v2.300.0 is deprecated and cannot receive messages.",
        "Runner update failed: download timed out",
    ],
    "runner-listener-exits": [
        "Runner listener exit with Session Conflict error, stop the service, no retry needed.",
        "A session for this runner already exists.",
    ],
}
HEALTHY_LINES = [
    "Current runner version: '2.321.0'",
    "2024-05-01 10:00:00Z: Listening for Jobs",
    "Connected to GitHub",
    "Running job: build (ubuntu)",
    "Job build completed with result: Succeeded",
    "No message retrieved from session 'abc' within last 30 minutes.",
    "2024-05-01 10:05:00Z: Runner reconnected.",
]


def line_passes_filters(query: str, line: str) -> bool:
    """Whether `line` passes the query's line filters (Python `re` standing in for RE2)."""
    parts = split_query(query)
    for (_, before), (kind, value) in itertools.pairwise(parts):
        if kind == "bare":
            continue
        op = before.rstrip()[-2:]
        if op == "|=" and value not in line:
            return False
        if op == "!=" and value in line:
            return False
        if op == "|~" and not re.search(value, line):
            return False
        if op == "!~" and re.search(value, line):
            return False
    return True


@pytest.mark.parametrize("template_id", sorted(RUNNER_LINES))
def test_log_template_finds_the_runners_own_lines_and_not_healthy_ones(template_id: str) -> None:
    query = load_templates()[template_id].render()
    for line in RUNNER_LINES[template_id]:
        assert line_passes_filters(query, line), line
    for line in HEALTHY_LINES:
        assert not line_passes_filters(query, line), line


def test_log_search_matches_text_literally_and_ignoring_case() -> None:
    template = load_templates()["runner-log-search"]
    query = template.render({"text": "exit code 1 (fatal)."})
    assert line_passes_filters(query, "Process completed with Exit Code 1 (FATAL).")
    assert not line_passes_filters(query, "Process completed with exit code 1 Xfatal).")


# --- Parameter errors -----------------------------------------------------------------


def _cpu() -> QueryTemplate:
    return load_templates()["host-cpu-busy-ratio"]


def test_unknown_parameter_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ParameterError) as caught:
        _cpu().render({"host": "web-1"})
    assert str(caught.value) == (
        "query template 'host-cpu-busy-ratio': parameter 'host': "
        "unknown parameter (known: instance, window)"
    )
    assert (caught.value.template_id, caught.value.parameter) == ("host-cpu-busy-ratio", "host")


def test_value_not_matching_pattern_is_refused_on_one_line() -> None:
    with pytest.raises(ParameterError) as caught:
        _cpu().render({"instance": "web-1\nweb-2"})
    assert str(caught.value) == (
        "query template 'host-cpu-busy-ratio': parameter 'instance': "
        'value "web-1\\nweb-2" does not match the pattern ".{1,256}"'
    )


def test_window_that_would_inject_is_refused() -> None:
    with pytest.raises(ParameterError, match="parameter 'window'"):
        _cpu().render({"window": "5m]) or vector(1) #"})


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("web-(1|2", "missing \\)"),
        ("(?=web)", "RE2 does not support lookaround"),
        ("(a)\\1", "RE2 does not support back references"),
        ("a++", "RE2 does not support possessive"),
    ],
)
def test_regex_value_that_does_not_compile_is_refused(value: str, why: str) -> None:
    with pytest.raises(ParameterError, match=f"not a valid regular expression: .*{why}"):
        _cpu().render({"instance": value})


def test_values_are_escaped_in_a_real_template() -> None:
    query = load_templates()["runner-log-search"].render(
        {"runner": "build-0[1-3]", "text": 'exit code 1 "fatal"'}
    )
    assert 'runner=~"build-0[1-3]"' in query
    assert '|~ "(?i)exit code 1 \\"fatal\\""' in query
    query = load_templates()["runner-log-search"].render({"text": "a.b (x)"})
    assert '|~ "(?i)a\\\\.b \\\\(x\\\\)"' in query


# --- Reference page -------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects h2 ids, code block languages and table row counts from rendered HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.h2_ids: list[str] = []
        self.code_classes: list[str] = []
        self.tables: list[int] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "h2":
            self.h2_ids.append(found.get("id") or "")
        elif tag == "code" and found.get("class"):
            self.code_classes.append(found["class"] or "")
        elif tag == "table":
            self.tables.append(0)
        elif tag == "tr" and self.tables:
            self.tables[-1] += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_reference_page_has_a_section_per_template_as_mkdocs_renders_it() -> None:
    templates = load_templates()
    page = reference_markdown(templates)
    extensions = ["tables", "toc", "attr_list", "pymdownx.highlight", "pymdownx.superfences"]
    # Without Pygments each fence keeps its language as a class, which shows the fences
    # were recognised as such and not left as paragraphs.
    html = markdown.markdown(
        page,
        extensions=extensions,
        extension_configs={"pymdownx.highlight": {"use_pygments": False}},
    )
    parsed = _Page()
    parsed.feed(html)
    assert sorted(parsed.h2_ids) == sorted(templates)
    # Two fenced blocks per template (expression, rendered example), none left as text.
    assert parsed.code_classes.count("language-promql") == 2 * sum(
        t.language == "promql" for t in templates.values()
    )
    assert parsed.code_classes.count("language-logql") == 2 * sum(
        t.language == "logql" for t in templates.values()
    )
    assert "```" not in "".join(parsed.text)
    # The index table, then one parameter table per template that has parameters, with
    # a header row and a row per parameter: no pipe in a pattern split a cell.
    with_params = [t for t in templates.values() if t.params]
    assert parsed.tables == [len(templates) + 1] + [
        len(t.params) + 1 for t in sorted(with_params, key=lambda t: (t.source.name, t.line))
    ]
    assert load_templates()["host-cpu-busy-ratio"].render() in html.replace("&quot;", '"')
    # With Pygments, as Material renders it, LogQL is coloured by tui.logql_lexer.
    coloured = markdown.markdown(page, extensions=extensions)
    assert coloured.count('<div class="highlight">') == 2 * len(templates)
    assert '<span class="ow">|~</span>' in coloured


def test_reference_section_shows_fields_parameters_and_example() -> None:
    template = load_templates()["host-systemd-unit-active"]
    page = reference_markdown([template])
    section = page[page.index("## host-systemd-unit-active") :]
    assert f"**{template.title}**" in section
    assert "unit: `none`" in section
    assert "| `unit` | regex | `actions\\.runner\\..+` | `.{1,256}` |" in section
    assert "```promql\n" + template.expr + "\n```" in section
    rendered = section[section.index("Rendered example") :]
    assert 'name=~"actions\\\\.runner\\\\..+"' in rendered


# --- LogQL highlighting ---------------------------------------------------------------


def test_logql_lexer_is_registered_and_highlights_every_logql_template() -> None:
    lexer = get_lexer_by_name("logql")
    assert type(lexer).__module__ == "tui.logql_lexer"
    for template in load_templates().values():
        if template.language != "logql":
            continue
        tokens = list(lexer.get_tokens(template.render()))
        assert not [t for t in tokens if t[0] is Error], template.id
        assert (Name.Label, "job") in tokens
        assert any(t[0] in String for t in tokens)


def test_logql_lexer_tells_filters_strings_and_functions_apart() -> None:
    tokens = [
        (kind, text)
        for kind, text in get_lexer_by_name("logql").get_tokens(
            'sum by (host) (rate({job="a"} |~ `x|y` | json | line_format "{{.msg}}" [5m]))'
        )
        if not text.isspace()
    ]
    assert (Name.Function, "sum") in tokens
    assert (Name.Function, "rate") in tokens
    assert (Operator.Word, "|~") in tokens
    assert (String.Backtick, "`x|y`") in tokens
    assert (Name.Builtin, "line_format") in tokens
    assert (String.Interpol, "{{.msg}}") in tokens
