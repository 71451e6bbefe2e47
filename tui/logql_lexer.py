"""A Pygments lexer for LogQL (Grafana Loki's query language), for highlighting on the site.

Registered as `logql` through the `pygments.lexers` entry point in pyproject.toml.
"""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

__all__ = ["LogQLLexer"]

# Range and aggregation functions over log streams and samples.
_FUNCTIONS = (
    "rate",
    "rate_counter",
    "count_over_time",
    "bytes_rate",
    "bytes_over_time",
    "absent_over_time",
    "sum_over_time",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "first_over_time",
    "last_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
    "approx_topk",
    "label_replace",
    "vector",
    "ip",
)
# Pipeline stages that follow `|`.
_STAGES = (
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "decolorize",
    "drop",
    "keep",
    "unwrap",
)
_KEYWORDS = (
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "bytes",
    "duration",
    "duration_seconds",
)


class LogQLLexer(RegexLexer):
    """LogQL: stream selectors, line filters, parser stages and metric queries."""

    name = "LogQL"
    aliases: ClassVar[list[str]] = ["logql"]
    filenames: ClassVar[list[str]] = ["*.logql"]
    mimetypes: ClassVar[list[str]] = ["text/x-logql"]
    url = "https://grafana.com/docs/loki/latest/query/"

    tokens: ClassVar[dict[str, list]] = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            include("strings"),
            # Line filters: |= != |~ !~ |> !>
            (r"[|!][=~>]", Operator.Word),
            (r"=~|!=|==|>=|<=|=|>|<", Operator),
            (r"[-+*/%^]", Operator),
            (r"\|", Punctuation),
            (r"\$__[A-Za-z_]+|\$[A-Za-z_][A-Za-z0-9_]*", Name.Variable),
            (
                r"\d+(?:\.\d+)?(?:ms|us|µs|ns|s|m|h|d|w|y)(?:\d+(?:ms|us|µs|ns|s|m|h|d|w|y))*",
                Number.Float,
            ),
            (
                r"(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(?:[KMGTPE]i?B|[kMGTPE]B?)?",
                Number,
            ),
            # A function name only when a call or a grouping follows, so labels can share names.
            (words(_FUNCTIONS, suffix=r"\b(?=\s*(?:\(|by\b|without\b))"), Name.Function),
            (words(_KEYWORDS, suffix=r"\b"), Keyword),
            (words(_STAGES, suffix=r"\b"), Name.Builtin),
            (r"(__error__|__error_details__|__line__|__timestamp__)\b", Name.Builtin.Pseudo),
            (r"([A-Za-z_][A-Za-z0-9_.]*)(\s*)(?==~|!=|!~|=|>|<)", bygroups(Name.Label, Whitespace)),
            (r"[A-Za-z_][A-Za-z0-9_.]*", Name),
            (r"[{}()\[\],]", Punctuation),
            (r".", Text),
        ],
        "strings": [
            (r'"', String.Double, "dqstring"),
            (r"`[^`]*`", String.Backtick),
        ],
        "dqstring": [
            (
                r'\\(?:[abfnrtv\\"]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3})',
                String.Escape,
            ),
            (r"\{\{.*?\}\}", String.Interpol),  # line_format / label_format templates
            (r'[^"\\{\n]+', String.Double),
            (r"\{", String.Double),
            (r'"', String.Double, "#pop"),
            (r"\\.", String.Escape),
            (r"\n", String.Double, "#pop"),  # unterminated: stop at the line's end
        ],
    }
