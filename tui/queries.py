"""Load the LogQL/PromQL query templates in `queries/*.yaml` and render them safely.

A value is escaped for the exact place its placeholder stands in (a "..." string, a
`...` raw string, a regex match, or bare), so no value can leave its string.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import yaml

from tui.content import ROOT

LANGUAGES = ("promql", "logql")
PARAM_TYPES = ("string", "regex", "integer", "duration")
# Grafana unit ids the templates may name (a subset of Grafana's list, enough for the fleet).
UNITS = (
    "none",
    "short",
    "percent",
    "percentunit",
    "bytes",
    "decbytes",
    "ms",
    "s",
    "m",
    "h",
    "d",
    "dateTimeAsIso",
    "cps",
    "ops",
    "reqps",
)
TEMPLATE_FIELDS = ("id", "title", "description", "language", "expr", "params", "unit")
REQUIRED_TEMPLATE_FIELDS = ("id", "title", "description", "language", "expr", "unit")
PARAM_FIELDS = ("type", "default", "pattern", "description")

QUERIES_DIR = ROOT / "queries"

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PARAM_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# `{name}`; `{{name}}` is left alone, being LogQL template syntax (`{{__line__}}`).
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")
# Bare (outside strings) tokens, enough to tell which operator or stage precedes a string.
_BARE_TOKEN = re.compile(r"\|[=~>]|![=~>]|=~|==|=|[A-Za-z_][A-Za-z0-9_]*|\S")

# Whatever a template's own pattern says, a bare value must be one of these, so that a
# loose pattern can never let a bare placeholder change the query.
_INTEGER = re.compile(r"[0-9]{1,18}")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+|\$__(?:auto|interval|rate_interval|range)")
# Go's regexp.QuoteMeta set: the characters RE2 treats as special outside classes.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
# Python's `re` stands in for RE2 when checking regex values; these constructs compile
# in Python but RE2 (Prometheus, Loki) rejects them.
_NOT_RE2 = (
    (re.compile(r"\(\?<?[=!]"), "lookaround assertions"),
    (re.compile(r"\(\?>"), "atomic groups"),
    (re.compile(r"\(\?\("), "conditional groups"),
    (re.compile(r"\(\?P="), "back references"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]"), "back references"),
    (re.compile(r"(?<!\\)(?:\\\\)*[*+?}]\+"), "possessive quantifiers"),
)

ParamType = Literal["string", "regex", "integer", "duration"]


class TemplateError(Exception):
    """A query template file cannot be used; str() is `path:line: what is wrong`."""

    def __init__(self, path: str | Path, line: int, message: str):
        self.path = _display_path(Path(path))
        self.line = line
        self.message = _one_line(message)
        super().__init__(f"{self.path}:{self.line}: {self.message}")


class ParameterError(ValueError):
    """A value given for a template parameter is refused; str() is one line."""

    def __init__(self, template_id: str, parameter: str, reason: str):
        self.template_id = template_id
        self.parameter = parameter
        self.reason = _one_line(reason)
        super().__init__(f"query template {template_id!r}: parameter {parameter!r}: {self.reason}")


@dataclass(frozen=True)
class QueryParam:
    """One named parameter of a template, with the pattern every value must fully match."""

    name: str
    type: ParamType
    default: str
    pattern: str
    description: str

    def problem(self, value: str) -> str | None:
        """Why `value` is refused for this parameter, or None when it is acceptable."""
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            return f"value {_show(value)} is not valid text (it holds a lone surrogate)"
        if re.fullmatch(self.pattern, value) is None:
            return f"value {_show(value)} does not match the pattern {_show(self.pattern)}"
        if self.type == "integer" and _INTEGER.fullmatch(value) is None:
            return f"value {_show(value)} is not a whole number"
        if self.type == "duration" and _DURATION.fullmatch(value) is None:
            return f"value {_show(value)} is not a duration such as 5m, 1h30m or $__rate_interval"
        if self.type == "regex":
            reason = regex_problem(value)
            if reason is not None:
                return f"value {_show(value)} is not a valid regular expression: {reason}"
        return None


@dataclass(frozen=True)
class _Placeholder:
    """Where one `{name}` stands: in which quotes, and whether as (part of) a regex."""

    name: str
    quote: Literal['"', "`", ""]
    regex: bool
    whole: bool  # the placeholder is the string's entire content


@dataclass(frozen=True)
class QueryTemplate:
    """A LogQL or PromQL query with named, validated parameters."""

    id: str
    title: str
    description: str
    language: Literal["promql", "logql"]
    expr: str
    params: Mapping[str, QueryParam]
    unit: str
    source: Path
    line: int
    _segments: tuple[str | _Placeholder, ...] = field(default=(), repr=False, compare=False)

    def defaults(self) -> dict[str, str]:
        """The value each parameter takes when none is given."""
        return {name: param.default for name, param in self.params.items()}

    def render(self, values: Mapping[str, str] | None = None) -> str:
        """The query with every placeholder replaced by its escaped value.

        Missing values take the parameter's default. Raises ParameterError for a name
        the template does not declare or a value that its parameter refuses.
        """
        given = dict(values or {})
        for name in sorted(given):
            if name not in self.params:
                known = ", ".join(self.params) or "none"
                raise ParameterError(self.id, name, f"unknown parameter (known: {known})")
        chosen: dict[str, str] = {}
        for name, param in self.params.items():
            value = given.get(name, param.default)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise ParameterError(
                    self.id, name, f"value must be text, not {type(value).__name__}"
                )
            reason = param.problem(value)
            if reason is not None:
                raise ParameterError(self.id, name, reason)
            chosen[name] = value
        out: list[str] = []
        for segment in self._segments:
            if isinstance(segment, str):
                out.append(segment)
            else:
                out.append(self._escaped(segment, chosen[segment.name]))
        return "".join(out)

    def _escaped(self, where: _Placeholder, value: str) -> str:
        param = self.params[where.name]
        text = value
        if where.regex:
            if param.type != "regex":
                text = escape_regex(value)
            elif not where.whole:
                # Keeps an alternation in the value from swallowing the text around it.
                text = f"(?:{value})"
        if where.quote == '"':
            return quote_string(text)
        if where.quote == "`":
            if "`" in text:
                raise ParameterError(
                    self.id, where.name, "value holds a backtick, which would end the `...` string"
                )
            if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
                raise ParameterError(
                    self.id,
                    where.name,
                    "value holds a control character, which a `...` string cannot carry",
                )
            return text
        return text  # bare: integer or duration, already checked by QueryParam.problem


def quote_string(value: str) -> str:
    """`value` escaped as the inside of a Go (PromQL/LogQL) double-quoted string."""
    out: list[str] = []
    for ch in value:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("a lone surrogate cannot be written in a Go string")
        elif not ch.isprintable():
            # \xNN would be a raw byte in Go, so code points above ASCII use \u or \U.
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def escape_regex(value: str) -> str:
    """`value` as an RE2 regular expression that matches exactly that text (Go QuoteMeta)."""
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in value)


def regex_problem(value: str) -> str | None:
    """Why `value` is not an RE2 regular expression, or None.

    Python's `re` compiles it (catching unbalanced groups and bad escapes), and the
    Python-only constructs are refused; the real check is Prometheus's parser in tests.
    """
    try:
        re.compile(value)
    except re.error as exc:
        return str(exc)
    for construct, name in _NOT_RE2:
        if construct.search(value):
            return f"RE2 does not support {name}"
    return None


def load_templates(directory: str | Path | None = None) -> dict[str, QueryTemplate]:
    """Every template in `directory`/*.yaml (default: the repo's `queries/`), by id."""
    folder = Path(directory) if directory is not None else QUERIES_DIR
    if not folder.is_dir():
        raise TemplateError(folder, 0, "no such folder of query templates")
    templates: dict[str, QueryTemplate] = {}
    for path in sorted(folder.glob("*.yaml")):
        for template in load_template_file(path):
            if template.id in templates:
                first = templates[template.id]
                raise TemplateError(
                    path,
                    template.line,
                    f"duplicate id {template.id!r} "
                    f"(first in {_display_path(first.source)}:{first.line})",
                )
            templates[template.id] = template
    return templates


def load_template_file(path: str | Path) -> list[QueryTemplate]:
    """The templates in one YAML file, in file order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateError(path, 1, f"not UTF-8 text: {exc.reason}") from exc
    return load_template_text(text, path)


def load_template_text(text: str, path: str | Path) -> list[QueryTemplate]:
    """The templates in YAML `text`; `path` names it in errors."""
    path = Path(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = f"YAML syntax error: {exc.problem or exc}"
        if exc.context and exc.context_mark is not None:
            # "while scanning a quoted scalar" points at where the broken thing began.
            message += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise TemplateError(path, line, message) from exc
    except yaml.YAMLError as exc:
        raise TemplateError(path, 1, f"YAML syntax error: {exc}") from exc
    if not isinstance(root, yaml.MappingNode):
        line = _line(root) if root is not None else 1
        raise TemplateError(path, line, "expected a mapping with a top-level `templates:` list")
    top = _mapping(path, root, ("templates",), ("templates",), "top level")
    entries = top["templates"][1]
    if not isinstance(entries, yaml.SequenceNode):
        raise TemplateError(path, _line(entries), "`templates` must be a list")
    templates: list[QueryTemplate] = []
    seen: dict[str, int] = {}
    for entry in entries.value:
        template = _template(path, entry)
        if template.id in seen:
            raise TemplateError(
                path,
                template.line,
                f"duplicate id {template.id!r} "
                f"(first in {_display_path(path)}:{seen[template.id]})",
            )
        seen[template.id] = template.line
        templates.append(template)
    return templates


def _template(path: Path, node: yaml.Node) -> QueryTemplate:
    if not isinstance(node, yaml.MappingNode):
        raise TemplateError(path, _line(node), "each template must be a mapping of fields")
    named = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == "id"]
    what = "template"
    if named and isinstance(named[0], yaml.ScalarNode) and named[0].value:
        what = f"template {named[0].value!r}"
    fields = _mapping(path, node, TEMPLATE_FIELDS, REQUIRED_TEMPLATE_FIELDS, what)
    template_id = _text(path, fields["id"])
    if _ID.fullmatch(template_id) is None:
        raise TemplateError(
            path, _line(fields["id"][1]), f"id {template_id!r} is not kebab-case (e.g. host-cpu)"
        )
    title = _text(path, fields["title"])
    description = _text(path, fields["description"])
    language = _text(path, fields["language"])
    if language not in LANGUAGES:
        raise TemplateError(
            path,
            _line(fields["language"][1]),
            f"language {language!r} is not one of: {', '.join(LANGUAGES)}",
        )
    unit = _text(path, fields["unit"])
    if unit not in UNITS:
        raise TemplateError(
            path,
            _line(fields["unit"][1]),
            f"unit {unit!r} is not a known Grafana unit id ({', '.join(UNITS)})",
        )
    params, param_lines = _params(path, fields["params"][1]) if "params" in fields else ({}, {})
    raw_expr = _text(path, fields["expr"])
    expr = raw_expr.strip()
    offset = len(raw_expr) - len(raw_expr.lstrip())
    segments = _segments(path, fields["expr"][1], expr, offset, params)
    used = {s.name for s in segments if isinstance(s, _Placeholder)}
    for name in params:
        if name not in used:
            raise TemplateError(
                path, param_lines[name], f"parameter {name!r} is declared but not used in expr"
            )
    return QueryTemplate(
        id=template_id,
        title=title,
        description=description,
        language=language,  # type: ignore[arg-type]
        expr=expr,
        params=MappingProxyType(params),
        unit=unit,
        source=path,
        line=_line(node),
        _segments=segments,
    )


def _params(path: Path, node: yaml.Node) -> tuple[dict[str, QueryParam], dict[str, int]]:
    """The declared parameters, and the line each is declared on."""
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return {}, {}
    if not isinstance(node, yaml.MappingNode):
        raise TemplateError(
            path, _line(node), "`params` must map each parameter name to its fields"
        )
    params: dict[str, QueryParam] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        name = _text(path, (key_node, key_node))
        if _PARAM_NAME.fullmatch(name) is None:
            raise TemplateError(
                path, _line(key_node), f"parameter name {name!r} must be lower_snake_case"
            )
        if name in params:
            raise TemplateError(path, _line(key_node), f"parameter {name!r} is declared twice")
        if not isinstance(value_node, yaml.MappingNode):
            raise TemplateError(
                path, _line(value_node), f"parameter {name!r} must be a mapping of fields"
            )
        fields = _mapping(path, value_node, PARAM_FIELDS, PARAM_FIELDS, f"parameter {name!r}")
        kind = _text(path, fields["type"])
        if kind not in PARAM_TYPES:
            raise TemplateError(
                path,
                _line(fields["type"][1]),
                f"parameter {name!r}: type {kind!r} is not one of: {', '.join(PARAM_TYPES)}",
            )
        pattern = _text(path, fields["pattern"])
        try:
            re.compile(pattern)
        except re.error as exc:
            raise TemplateError(
                path,
                _line(fields["pattern"][1]),
                f"parameter {name!r}: pattern {_show(pattern)} is not a valid regular "
                f"expression: {exc}",
            ) from exc
        param = QueryParam(
            name=name,
            type=kind,  # type: ignore[arg-type]
            default=_text(path, fields["default"], allow_empty=True),
            pattern=pattern,
            description=_text(path, fields["description"]),
        )
        reason = param.problem(param.default)
        if reason is not None:
            raise TemplateError(
                path, _line(fields["default"][1]), f"parameter {name!r}: default {reason}"
            )
        lines[name] = _line(key_node)
        params[name] = param
    return params, lines


def _segments(
    path: Path,
    node: yaml.Node,
    expr: str,
    offset: int,
    params: Mapping[str, QueryParam],
) -> tuple[str | _Placeholder, ...]:
    """Split `expr` into literal text and placeholders, each knowing its context."""

    def line_at(index: int) -> int:
        return _text_line(node, offset + index)

    def fail(index: int, message: str) -> TemplateError:
        return TemplateError(path, line_at(index), message)

    found: list[tuple[int, int, _Placeholder]] = []
    tokens: list[str] = []  # bare tokens so far; "<string>" and "<value>" stand for those
    stage: str | None = None  # the LogQL pipeline stage we are in (after `| name`)
    line_filter: str | None = None  # context of the string after the last line filter
    i = 0
    while i < len(expr):
        ch = expr[i]
        if ch in "\"'`":
            end = _string_end(expr, i)
            if end is None:
                raise fail(i, f"string starting with {ch} is not closed")
            prev = tokens[-1] if tokens else ""
            if prev in ("=~", "!~", "|~") or (prev == "regexp" and stage == "regexp"):
                context = "regex"
            elif prev in ("|>", "!>") or stage == "pattern":
                context = "pattern"
            elif stage in ("line_format", "label_format"):
                context = "template"
            elif prev == "or" and len(tokens) >= 2 and tokens[-2] == "<string>" and line_filter:
                context = line_filter  # `|~ "a" or "b"`: the filter applies to both strings
            else:
                context = "plain"
            if prev in ("|=", "!=", "|~", "!~", "|>", "!>") or (prev == "or" and line_filter):
                line_filter = context
            else:
                line_filter = None
            for match in _PLACEHOLDER.finditer(expr, i + 1, end):
                name = match.group(1)
                where = match.start()
                if name not in params:
                    raise fail(where, f"placeholder {{{name}}} is not declared under params")
                if ch == "'":
                    raise fail(
                        where,
                        f"placeholder {{{name}}} is inside a single-quoted string; "
                        "use double quotes or backticks",
                    )
                if context == "pattern":
                    raise fail(
                        where,
                        f"placeholder {{{name}}} is inside a LogQL pattern, "
                        "where a value cannot be escaped",
                    )
                if context == "template":
                    raise fail(
                        where,
                        f"placeholder {{{name}}} is inside a LogQL {stage} template, "
                        "where a value cannot be escaped",
                    )
                kind = params[name].type
                if kind == "regex" and context != "regex":
                    raise fail(
                        where,
                        f"placeholder {{{name}}} of type regex is in a plain string; "
                        "place it after =~, !~ or |~, or make it a string parameter",
                    )
                placeholder = _Placeholder(
                    name=name,
                    quote=ch,  # type: ignore[arg-type]
                    regex=context == "regex",
                    whole=match.start() == i + 1 and match.end() == end,
                )
                found.append((match.start(), match.end(), placeholder))
            tokens.append("<string>")
            i = end + 1
        elif ch == "#":
            end = expr.find("\n", i)
            end = len(expr) if end == -1 else end
            match = _PLACEHOLDER.search(expr, i, end)
            if match:
                raise fail(match.start(), f"placeholder {{{match.group(1)}}} is inside a comment")
            i = end
        elif ch.isspace():
            i += 1
        elif ch == "{" and (match := _PLACEHOLDER.match(expr, i)):
            name = match.group(1)
            if name not in params:
                raise fail(i, f"placeholder {{{name}}} is not declared under params")
            kind = params[name].type
            if kind not in ("integer", "duration"):
                raise fail(
                    i,
                    f"placeholder {{{name}}} of type {kind} stands outside quotes; "
                    "only integer and duration values may stand bare",
                )
            found.append((i, match.end(), _Placeholder(name, "", regex=False, whole=True)))
            tokens.append("<value>")
            i = match.end()
        else:
            match = _BARE_TOKEN.match(expr, i)
            assert match is not None  # \S matches any non-space character
            token = match.group()
            if tokens and tokens[-1] == "|" and token[0].isalpha():
                stage = token
            elif token in ("|=", "!=", "|~", "!~", "|>", "!>", "{", "}", "(", ")", "[", "]"):
                stage = None
            tokens.append(token)
            i = match.end()
    segments: list[str | _Placeholder] = []
    cursor = 0
    for start, end, placeholder in found:
        if start > cursor:
            segments.append(expr[cursor:start])
        segments.append(placeholder)
        cursor = end
    if cursor < len(expr):
        segments.append(expr[cursor:])
    return tuple(segments)


def _string_end(expr: str, start: int) -> int | None:
    """Index of the quote closing the string opened at `start`, or None if it never closes."""
    quote = expr[start]
    i = start + 1
    while i < len(expr):
        ch = expr[i]
        if quote != "`":
            if ch == "\\":
                i += 2
                continue
            if ch == "\n":
                return None  # "..." and '...' end on their line in Go
        if ch == quote:
            return i
        i += 1
    return None


def _mapping(
    path: Path,
    node: yaml.MappingNode,
    allowed: Iterable[str],
    required: Iterable[str],
    what: str,
) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """The node's fields by name, refusing unknown, repeated and missing ones."""
    allowed = tuple(allowed)
    fields: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise TemplateError(path, _line(key_node), f"{what}: field names must be text")
        key = key_node.value
        if key not in allowed:
            raise TemplateError(
                path,
                _line(key_node),
                f"{what}: unknown field {key!r} (expected: {', '.join(allowed)})",
            )
        if key in fields:
            raise TemplateError(path, _line(key_node), f"{what}: field {key!r} appears twice")
        fields[key] = (key_node, value_node)
    for key in required:
        if key not in fields:
            raise TemplateError(path, _line(node), f"{what}: missing field {key!r}")
    return fields


def _text(path: Path, pair: tuple[yaml.Node, yaml.Node], *, allow_empty: bool = False) -> str:
    key_node, node = pair
    name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "value"
    if not isinstance(node, yaml.ScalarNode):
        raise TemplateError(
            path, _line(node), f"field {name!r} must be text, not a list or mapping"
        )
    if node.tag == "tag:yaml.org,2002:null":
        raise TemplateError(path, _line(node), f"field {name!r} is empty")
    if not node.value.strip() and not allow_empty:
        raise TemplateError(path, _line(node), f"field {name!r} is empty")
    return node.value


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _text_line(node: yaml.Node, index: int) -> int:
    """The file line of character `index` of a scalar's value.

    Exact for literal block scalars (`|`), which is how expressions are written;
    other styles fold lines, so the scalar's first line is given.
    """
    if isinstance(node, yaml.ScalarNode) and node.style == "|":
        return node.start_mark.line + 2 + node.value.count("\n", 0, index)
    return _line(node)


def _show(value: str, limit: int = 60) -> str:
    """A value as a quoted, escaped, one-line snippet for messages."""
    text = quote_string(value.encode("utf-8", "replace").decode("utf-8"))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f'"{text}"'


def _one_line(text: str) -> str:
    """Text on one line: control characters and line breaks become single spaces."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _display_path(path: Path) -> str:
    """The path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def reference_markdown(templates: Mapping[str, QueryTemplate] | Iterable[QueryTemplate]) -> str:
    """The site's "Query templates" reference page, one section per template."""
    items = list(templates.values()) if isinstance(templates, Mapping) else list(templates)
    items.sort(key=lambda t: (t.source.name, t.line))
    out: list[str] = [
        "# Query templates",
        "",
        "The LogQL and PromQL queries that the terminal UI runs, the runbooks' detection",
        "rules name, and the dashboard and alert rules are built from. They live in",
        "`queries/*.yaml`. A `{name}` in an expression is a parameter; runnerdoc escapes",
        "each value for the place it stands in, so a value can never change the query.",
        "",
        "| id | language | title |",
        "|---|---|---|",
    ]
    for t in items:
        out.append(f"| [{t.id}](#{t.id}) | {t.language} | {_cell(t.title)} |")
    out.append("")
    for t in items:
        out += [
            f"## {t.id}",
            "",
            f"**{_inline(t.title)}**",
            "",
            _inline(" ".join(t.description.split())),
            "",
            f"Language: {'PromQL' if t.language == 'promql' else 'LogQL'} · "
            f"unit: {_code(t.unit)} · source: {_code(_source_name(t.source))}",
            "",
        ]
        if t.params:
            out += [
                "| parameter | type | default | pattern | description |",
                "|---|---|---|---|---|",
            ]
            for p in t.params.values():
                out.append(
                    f"| {_code(p.name)} | {p.type} | {_code(p.default)} | {_code(p.pattern)} "
                    f"| {_cell(p.description)} |"
                )
            out.append("")
        else:
            out += ["No parameters.", ""]
        out += ["Expression:", "", *_fence(t.language, t.expr), ""]
        out += ["Rendered example (defaults):", "", *_fence(t.language, t.render()), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _source_name(source: Path) -> str:
    if source.resolve().parent == QUERIES_DIR:
        return f"queries/{source.name}"
    return _display_path(source)


def _fence(language: str, code: str) -> list[str]:
    # A fence longer than any backtick run inside the code cannot be closed by it.
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", code, fence]


def _code(text: str) -> str:
    """An inline code span that survives backticks (Python-Markdown keeps pipes in code)."""
    if text == "":
        return '`""`'
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _cell(text: str) -> str:
    return _inline(" ".join(text.split())).replace("|", "\\|")


def _inline(text: str) -> str:
    # Template text is the project's own, but angle brackets would still become HTML.
    return text.replace("<", "&lt;").replace(">", "&gt;")
