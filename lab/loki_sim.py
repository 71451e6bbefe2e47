"""A local stand-in for Loki: push, query_range and ready, in Loki's documented shapes.

Loki cannot be installed here, so the lab and the tests use this. It evaluates the
LogQL that runnerdoc's templates use: a stream selector (`=`, `!=`, `=~`, `!~`),
line filters (`|=`, `!=`, `|~`, `!~` with "..." or `...` strings),
`count_over_time` / `rate` over a range, and `sum|max|min|avg|count by (...)`.
Anything else is answered as Loki answers a parse error: HTTP 400, plain text.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class LogQLError(ValueError):
    pass


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<range>\[[0-9]+(?:ms|s|m|h|d)\])
    | (?P<op>\|=|\|~|!=|!~|=~|=|\{|\}|\(|\)|,)
    | (?P<num>[0-9]+(?:\.[0-9]+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'"}


def _unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1]
    out, i, body = [], 0, token[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2 : i + 4]):
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            # Go's strconv.Unquote refuses any other escape, and so does Loki.
            raise LogQLError(f"invalid escape \\{nxt} in string")
        out.append(ch)
        i += 1
    return "".join(out)


def _tokens(query: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise LogQLError(f"parse error at position {pos}: unexpected {query[pos : pos + 10]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


@dataclass
class LogQuery:
    matchers: list[tuple[str, str, str]]
    filters: list[tuple[str, str]]

    def selects(self, labels: dict[str, str]) -> bool:
        for name, op, value in self.matchers:
            have = labels.get(name, "")
            if op == "=" and have != value:
                return False
            if op == "!=" and have == value:
                return False
            if op == "=~" and not re.fullmatch(value, have):
                return False
            if op == "!~" and re.fullmatch(value, have):
                return False
        return True

    def keeps(self, line: str) -> bool:
        for op, value in self.filters:
            if op == "|=" and value not in line:
                return False
            if op == "!=" and value in line:
                return False
            if op == "|~" and not re.search(value, line):
                return False
            if op == "!~" and re.search(value, line):
                return False
        return True


@dataclass
class MetricQuery:
    function: str  # count_over_time | rate
    inner: LogQuery
    window: float
    aggregate: str | None = None
    by: list[str] = field(default_factory=list)


class _Parser:
    def __init__(self, query: str):
        self.toks = _tokens(query)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        tok = self.peek()
        if tok is None:
            raise LogQLError("parse error: unexpected end of query")
        if (value is not None and tok[1] != value) or (kind is not None and tok[0] != kind):
            raise LogQLError(f"parse error: expected {value or kind}, found {tok[1]!r}")
        self.i += 1
        return tok[1]

    def parse(self) -> LogQuery | MetricQuery:
        tok = self.peek()
        if tok and tok[1] == "{":
            result: LogQuery | MetricQuery = self.log_query()
        else:
            result = self.metric()
        if self.peek() is not None:
            raise LogQLError(f"parse error: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return result

    def log_query(self) -> LogQuery:
        self.take("{")
        matchers = []
        while True:
            name = self.take(kind="ident")
            op = self.take(kind="op")
            if op not in ("=", "!=", "=~", "!~"):
                raise LogQLError(f"parse error: bad matcher operator {op!r}")
            value_tok = self.peek()
            if value_tok is None or value_tok[0] not in ("str", "raw"):
                raise LogQLError("parse error: a label matcher needs a string value")
            self.i += 1
            value = _unquote(value_tok[1])
            if op in ("=~", "!~"):
                _compile(value)
            matchers.append((name, op, value))
            if self.peek() and self.peek()[1] == ",":  # type: ignore[index]
                self.i += 1
                continue
            break
        self.take("}")
        if not any(op in ("=", "=~") and not _matches_empty(op, v) for _, op, v in matchers):
            raise LogQLError(
                "queries require at least one regexp or equality matcher that does not have an"
                " empty-compatible value"
            )
        filters = []
        while self.peek() and self.peek()[1] in ("|=", "!=", "|~", "!~"):  # type: ignore[index]
            op = self.take()
            value_tok = self.peek()
            if value_tok is None or value_tok[0] not in ("str", "raw"):
                raise LogQLError("parse error: a line filter needs a string")
            self.i += 1
            value = _unquote(value_tok[1])
            if op in ("|~", "!~"):
                _compile(value)
            filters.append((op, value))
        return LogQuery(matchers, filters)

    def metric(self) -> MetricQuery:
        name = self.take(kind="ident")
        if name in ("sum", "max", "min", "avg", "count"):
            by: list[str] = []
            if self.peek() and self.peek()[1] == "by":  # type: ignore[index]
                self.i += 1
                by = self.labels()
            self.take("(")
            inner = self.metric()
            self.take(")")
            if not by and self.peek() and self.peek()[1] == "by":  # type: ignore[index]
                self.i += 1
                by = self.labels()
            inner.aggregate, inner.by = name, by
            return inner
        if name not in ("count_over_time", "rate"):
            raise LogQLError(f"parse error: unsupported function {name!r}")
        self.take("(")
        inner_q = self.log_query()
        window = self.take(kind="range")
        self.take(")")
        m = re.fullmatch(r"\[([0-9]+)(ms|s|m|h|d)\]", window)
        assert m is not None
        return MetricQuery(name, inner_q, int(m.group(1)) * _UNITS[m.group(2)])

    def labels(self) -> list[str]:
        self.take("(")
        names = [self.take(kind="ident")]
        while self.peek() and self.peek()[1] == ",":  # type: ignore[index]
            self.i += 1
            names.append(self.take(kind="ident"))
        self.take(")")
        return names


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise LogQLError(f"parse error: invalid regex {pattern!r}: {e}") from None


def _matches_empty(op: str, value: str) -> bool:
    return value == "" if op == "=" else re.fullmatch(value, "") is not None


def parse_logql(query: str) -> LogQuery | MetricQuery:
    return _Parser(query).parse()


@dataclass
class _Entry:
    ns: int
    line: str


class LokiStore:
    """Log streams in memory, keyed by their label set."""

    def __init__(self) -> None:
        self.streams: dict[tuple[tuple[str, str], ...], list[_Entry]] = {}
        self.lock = threading.Lock()

    def push(self, labels: dict[str, str], values: list[tuple[int, str]]) -> None:
        key = tuple(sorted(labels.items()))
        with self.lock:
            entries = self.streams.setdefault(key, [])
            entries.extend(_Entry(ns, line) for ns, line in values)
            entries.sort(key=lambda e: e.ns)

    def query_range(
        self, query: str, start_ns: int, end_ns: int, limit: int, direction: str, step: float
    ) -> dict[str, Any]:
        parsed = parse_logql(query)
        with self.lock:
            streams = {k: list(v) for k, v in self.streams.items()}
        if isinstance(parsed, LogQuery):
            result, total = [], []
            for key, entries in streams.items():
                labels = dict(key)
                if not parsed.selects(labels):
                    continue
                kept = [e for e in entries if start_ns <= e.ns < end_ns and parsed.keeps(e.line)]
                total.extend((e.ns, key, e.line) for e in kept)
            total.sort(key=lambda t: t[0], reverse=direction == "backward")
            chosen = total[:limit]
            by_stream: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
            for ns, key, line in chosen:
                by_stream.setdefault(key, []).append([str(ns), line])
            for key, values in by_stream.items():
                result.append({"stream": dict(key), "values": values})
            return {"resultType": "streams", "result": result}
        return self._matrix(parsed, streams, start_ns, end_ns, step)

    def _matrix(
        self, q: MetricQuery, streams: dict[Any, list[_Entry]], start_ns: int, end_ns: int,
        step: float,
    ) -> dict[str, Any]:  # fmt: skip
        step_ns = max(int(step * 1e9), 1)
        window_ns = int(q.window * 1e9)
        series: dict[tuple[tuple[str, str], ...], dict[int, float]] = {}
        t = start_ns
        while t <= end_ns:
            groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
            for key, entries in streams.items():
                labels = dict(key)
                if not q.inner.selects(labels):
                    continue
                n = sum(1 for e in entries if t - window_ns < e.ns <= t and q.inner.keeps(e.line))
                if n == 0:
                    continue
                value = n / q.window if q.function == "rate" else float(n)
                if q.aggregate:
                    gkey = tuple(sorted((k, labels.get(k, "")) for k in q.by))
                else:
                    gkey = key
                groups.setdefault(gkey, []).append(value)
            for gkey, vals in groups.items():
                agg = {
                    None: lambda v: v[0], "sum": sum, "max": max, "min": min,
                    "avg": lambda v: sum(v) / len(v), "count": len,
                }[q.aggregate]  # fmt: skip
                series.setdefault(gkey, {})[t] = float(agg(vals))
            t += step_ns
        return {
            "resultType": "matrix",
            "result": [
                {
                    "metric": dict(k),
                    "values": [[ts / 1e9, _fmt(v)] for ts, v in sorted(points.items())],
                }
                for k, points in series.items()
            ],
        }


def _fmt(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(v)


def _ns(text: str | None, default: int) -> int:
    """Loki accepts nanosecond integers or (fractional) seconds."""
    if not text:
        return default
    value = float(text)
    return int(value) if value > 1e14 else int(value * 1e9)


class _Handler(BaseHTTPRequestHandler):
    store: LokiStore
    on_request: Callable[[str], None] | None = None

    def log_message(self, *args: object) -> None:
        pass

    def _send(
        self, status: int, body: bytes = b"", ctype: str = "text/plain; charset=utf-8"
    ) -> None:
        self.send_response(status)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/ready":
            self._send(200, b"ready\n")
            return
        if url.path != "/loki/api/v1/query_range":
            self._send(404, b"404 page not found\n")
            return
        now = time.time_ns()
        try:
            start = _ns(q.get("start"), now - 3600 * 10**9)
            end = _ns(q.get("end"), now)
            limit = int(q.get("limit", "100"))
            step = float(q.get("step", "60").rstrip("s"))
            direction = q.get("direction", "backward")
            data = self.store.query_range(q.get("query", ""), start, end, limit, direction, step)
        except (LogQLError, ValueError) as e:
            self._send(400, f"{e}\n".encode())
            return
        body = json.dumps({"status": "success", "data": data}).encode()
        self._send(200, body, "application/json")

    def do_POST(self) -> None:
        if urlparse(self.path).path != "/loki/api/v1/push":
            self._send(404, b"404 page not found\n")
            return
        if "json" not in (self.headers.get("Content-Type") or ""):
            self._send(415, b"unsupported content type: this stand-in takes JSON pushes\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length))
            for stream in body["streams"]:
                labels = {str(k): str(v) for k, v in stream["stream"].items()}
                values = [(int(ns), str(line)) for ns, line, *_ in stream["values"]]
                self.store.push(labels, values)
        except (ValueError, KeyError, TypeError) as e:
            self._send(400, f"error parsing push request: {e}\n".encode())
            return
        self._send(204)


class LokiSimulator:
    """The stand-in server on 127.0.0.1; `start()`, `url`, `stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.store = LokiStore()
        handler = type("Handler", (_Handler,), {"store": self.store})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LokiSimulator:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runnerdoc lab loki-sim")
    parser.add_argument("--port", type=int, default=3100)
    args = parser.parse_args(argv)
    sim = LokiSimulator(port=args.port)
    print(f"Loki stand-in on {sim.url}", flush=True)
    try:
        sim.server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
