"""Alertmanager API v2: firing alerts with their runbook links, and silences."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tui.model import Alert
from tui.sources.errors import QueryRejected, SourceError, SourceUnavailable
from tui.text import one_line


class AlertmanagerError(SourceError):
    source = "alertmanager"


class AlertmanagerUnavailable(AlertmanagerError, SourceUnavailable):
    pass


class AlertmanagerRejected(AlertmanagerError, QueryRejected):
    pass


def _epoch(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def parse_alert(raw: Mapping[str, Any]) -> Alert:
    labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
    notes = {str(k): str(v) for k, v in (raw.get("annotations") or {}).items()}
    status = raw.get("status") or {}
    return Alert(
        name=one_line(labels.get("alertname", "?"), limit=200),
        severity=labels.get("severity", "none"),
        state=str(status.get("state", "active")),
        labels=tuple(sorted((k, one_line(v, limit=500)) for k, v in labels.items())),
        summary=one_line(notes.get("summary", ""), limit=500),
        description=one_line(notes.get("description", ""), limit=2000),
        runbook_url=one_line(notes.get("runbook_url", ""), limit=500),
        starts_at=_epoch(raw.get("startsAt")),
        fingerprint=str(raw.get("fingerprint", "")),
    )


class AlertmanagerClient:
    def __init__(self, url: str, *, timeout: float = 10.0, client: httpx.AsyncClient | None = None):
        self.url = url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = await self._client.request(method, f"{self.url}{path}", **kwargs)
        except httpx.TimeoutException:
            raise AlertmanagerUnavailable(f"Alertmanager at {self.url} timed out") from None
        except httpx.HTTPError as e:
            raise AlertmanagerUnavailable(
                f"Alertmanager at {self.url} unreachable: {type(e).__name__}"
            ) from None
        if resp.status_code == 400:
            raise AlertmanagerRejected(f"Alertmanager refused: {resp.text}")
        if resp.status_code >= 300:
            raise AlertmanagerUnavailable(f"Alertmanager answered HTTP {resp.status_code}")
        return resp

    async def alerts(self, *, include_suppressed: bool = False) -> list[Alert]:
        """Firing alerts, newest first; silenced and inhibited ones only when asked."""
        params = {"active": "true", "silenced": str(include_suppressed).lower(),
                  "inhibited": str(include_suppressed).lower()}  # fmt: skip
        resp = await self._request("GET", "/api/v2/alerts", params=params)
        try:
            body = resp.json()
        except ValueError:
            raise AlertmanagerUnavailable("Alertmanager answered a body that is not JSON") from None
        if not isinstance(body, list):
            raise AlertmanagerUnavailable("Alertmanager answered an unexpected body")
        alerts = [parse_alert(a) for a in body if isinstance(a, dict)]
        return sorted(alerts, key=lambda a: -a.starts_at)

    async def create_silence(
        self,
        matchers: Mapping[str, str],
        *,
        duration: timedelta,
        created_by: str,
        comment: str,
    ) -> str:
        """Silence alerts whose labels equal all `matchers`; returns the silence id."""
        if not matchers:
            raise AlertmanagerRejected("a silence needs at least one matcher")
        now = datetime.now(UTC)
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in matchers.items()
            ],
            "startsAt": now.isoformat().replace("+00:00", "Z"),
            "endsAt": (now + duration).isoformat().replace("+00:00", "Z"),
            "createdBy": created_by,
            "comment": comment,
        }
        resp = await self._request("POST", "/api/v2/silences", json=body)
        return str(resp.json().get("silenceID", ""))

    async def expire_silence(self, silence_id: str) -> None:
        await self._request("DELETE", f"/api/v2/silence/{silence_id}")

    async def silences(self) -> list[dict[str, Any]]:
        resp = await self._request("GET", "/api/v2/silences")
        return [s for s in resp.json() if isinstance(s, dict)]
