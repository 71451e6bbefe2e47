"""Prometheus HTTP API: instant and range queries, and host health for the whole fleet.

Host health costs a handful of instant queries per refresh, each returning every
host at once; never one query per runner. Thanos and Mimir answer the same API.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from tui.model import HostHealth
from tui.queries import QueryTemplate
from tui.sources.errors import QueryRejected, SourceError, SourceUnavailable


class PrometheusError(SourceError):
    source = "prometheus"


class PrometheusUnavailable(PrometheusError, SourceUnavailable):
    pass


class PrometheusQueryRejected(PrometheusError, QueryRejected):
    pass


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]  # (epoch seconds, value)


# HostHealth field -> query template id. One instant query each, for all hosts.
HEALTH_QUERIES = {
    "cpu_busy": "host-cpu-busy-ratio",
    "memory_available": "host-memory-available-ratio",
    "disk_used": "host-disk-used-ratio",
    "inodes_free": "host-inodes-free-ratio",
    "load_per_cpu": "host-load-per-cpu",
    "service_active": "host-systemd-unit-active",
    "clock_offset": "host-clock-offset-seconds",
}


class PrometheusClient:
    def __init__(self, url: str, *, timeout: float = 10.0, client: httpx.AsyncClient | None = None):
        self.url = url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self.queries_sent = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        self.queries_sent += 1
        try:
            resp = await self._client.get(f"{self.url}{path}", params=params)
        except httpx.TimeoutException:
            raise PrometheusUnavailable(f"Prometheus at {self.url} timed out") from None
        except httpx.HTTPError as e:
            raise PrometheusUnavailable(
                f"Prometheus at {self.url} unreachable: {type(e).__name__}"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            raise PrometheusUnavailable(
                f"Prometheus at {self.url} answered HTTP {resp.status_code} without JSON"
            ) from None
        if not isinstance(body, dict):
            raise PrometheusUnavailable(f"Prometheus at {self.url} answered an unexpected body")
        if body.get("status") != "success":
            message = f"{body.get('errorType', 'error')}: {body.get('error', 'no message')}"
            if resp.status_code == 400 or body.get("errorType") == "bad_data":
                raise PrometheusQueryRejected(f"Prometheus rejected the query: {message}")
            raise PrometheusUnavailable(f"Prometheus error (HTTP {resp.status_code}): {message}")
        return body["data"]

    async def ready(self) -> bool:
        try:
            resp = await self._client.get(f"{self.url}/-/ready")
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    async def query(self, expr: str, at: float | None = None) -> list[Sample]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = await self._get("/api/v1/query", params)
        kind = data.get("resultType")
        if kind == "scalar":
            return [Sample({}, _number(data["result"][1]))]
        if kind != "vector":
            raise PrometheusQueryRejected(f"expected an instant vector, got {kind}")
        return [Sample(r.get("metric", {}), _number(r["value"][1])) for r in data["result"]]

    async def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = await self._get(
            "/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step}
        )
        if data.get("resultType") != "matrix":
            raise PrometheusQueryRejected(f"expected a range vector, got {data.get('resultType')}")
        return [
            Series(
                r.get("metric", {}),
                tuple((float(t), _number(v)) for t, v in r.get("values", [])),
            )
            for r in data["result"]
        ]

    async def host_health(
        self,
        templates: Mapping[str, QueryTemplate],
        *,
        host_label: str = "runner",
        params: Mapping[str, str] | None = None,
    ) -> dict[str, HostHealth]:
        """Health of every host, keyed by the value of `host_label` (else `instance`).

        A query that fails as a whole raises; a metric a host lacks stays None.
        """
        values: dict[str, dict[str, Any]] = {}
        instances: dict[str, str] = {}
        for field_name, template_id in HEALTH_QUERIES.items():
            template = templates[template_id]
            given = {k: v for k, v in (params or {}).items() if k in template.params}
            for sample in await self.query(template.render(given)):
                key = sample.labels.get(host_label) or sample.labels.get("instance")
                if not key:
                    continue
                instances.setdefault(key, sample.labels.get("instance", key))
                if math.isnan(sample.value):
                    continue  # e.g. a filesystem of size 0: no meaningful ratio
                value: Any = sample.value
                if field_name == "service_active":
                    value = sample.value >= 1
                elif field_name == "clock_offset":
                    value = abs(sample.value)
                values.setdefault(key, {})[field_name] = value
        return {
            key: HostHealth(runner=key, instance=instances[key], **fields)
            for key, fields in values.items()
        }


def _number(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return math.nan
    return value
