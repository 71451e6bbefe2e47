"""Loki HTTP API: log lines and log metrics from query_range, control characters stripped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tui.model import LogLine
from tui.sources.errors import QueryRejected, SourceError, SourceUnavailable
from tui.sources.prometheus import Series
from tui.text import one_line, safe_text

MAX_LINE = 10_000  # characters kept of one log line; the rest is cut with an ellipsis


class LokiError(SourceError):
    source = "loki"


class LokiUnavailable(LokiError, SourceUnavailable):
    pass


class LokiQueryRejected(LokiError, QueryRejected):
    pass


class LokiClient:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 15.0,
        client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,  # e.g. X-Scope-OrgID for multi-tenant Loki
    ):
        self.url = url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout, headers=dict(headers or {}))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _query_range(self, params: Mapping[str, Any]) -> dict[str, Any]:
        try:
            resp = await self._client.get(f"{self.url}/loki/api/v1/query_range", params=params)
        except httpx.TimeoutException:
            raise LokiUnavailable(f"Loki at {self.url} timed out") from None
        except httpx.HTTPError as e:
            raise LokiUnavailable(f"Loki at {self.url} unreachable: {type(e).__name__}") from None
        if resp.status_code == 400:
            # Loki answers query errors as plain text.
            raise LokiQueryRejected(f"Loki rejected the query: {one_line(resp.text, limit=300)}")
        if resp.status_code != 200:
            raise LokiUnavailable(f"Loki answered HTTP {resp.status_code}")
        try:
            body = resp.json()
            data = body["data"]
            if body.get("status") != "success" or not isinstance(data, dict):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise LokiUnavailable("Loki answered a body that is not the documented JSON") from None
        return data

    async def logs(
        self,
        query: str,
        *,
        start: float,
        end: float,
        limit: int = 200,
        newest_first: bool = True,
    ) -> list[LogLine]:
        """Log lines matching a LogQL log query, newest first unless asked otherwise."""
        data = await self._query_range(
            {
                "query": query,
                "start": str(int(start * 1e9)),
                "end": str(int(end * 1e9)),
                "limit": limit,
                "direction": "backward" if newest_first else "forward",
            }
        )
        if data.get("resultType") != "streams":
            raise LokiQueryRejected(f"expected log lines, got {data.get('resultType')}")
        lines: list[LogLine] = []
        for stream in data.get("result", []):
            labels = tuple(
                sorted((str(k), one_line(str(v), limit=200)) for k, v in stream["stream"].items())
            )
            source = dict(labels).get("source", "")
            for ns, text in stream.get("values", []):
                lines.append(
                    LogLine(
                        timestamp=int(ns) / 1e9,
                        text=safe_text(str(text), limit=MAX_LINE),
                        labels=labels,
                        source=source,
                    )
                )
        lines.sort(key=lambda ln: ln.timestamp, reverse=newest_first)
        return lines[:limit]

    async def series(self, query: str, *, start: float, end: float, step: float) -> list[Series]:
        """A LogQL metric query (count_over_time, rate, ...) as series of points."""
        data = await self._query_range(
            {
                "query": query,
                "start": str(int(start * 1e9)),
                "end": str(int(end * 1e9)),
                "step": step,
            }
        )
        if data.get("resultType") != "matrix":
            raise LokiQueryRejected(f"expected a metric query, got {data.get('resultType')}")
        return [
            Series(
                {str(k): one_line(str(v)) for k, v in r.get("metric", {}).items()},
                tuple((float(t), float(v)) for t, v in r.get("values", [])),
            )
            for r in data.get("result", [])
        ]
