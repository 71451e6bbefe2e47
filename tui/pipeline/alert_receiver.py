"""`runnerdoc failover serve`: Alertmanager's webhook receiver for pool capacity alerts, feeding
the failover controller. The alerts it is sent say whether the pool is short."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tui.config import Secret
from tui.pipeline.failover import FailoverController
from tui.pipeline.failover_policy import PoolReading
from tui.text import one_line

log = logging.getLogger("runnerdoc.failover")

POOL_ALERTS = ("RunnerPoolCapacityLow", "RunnerPoolEmpty")
PATH = "/alertmanager"
MAX_BODY = 1024 * 1024


def pool_alerts(payload: Any, pool: str) -> list[dict[str, Any]]:
    """The capacity alerts of `pool` in one Alertmanager webhook payload (version 4)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise ValueError("not an Alertmanager webhook payload (no alerts list)")
    found = []
    for alert in payload["alerts"]:
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            continue
        labels = alert["labels"]
        if labels.get("alertname") in POOL_ALERTS and labels.get("pool") == pool:
            found.append(alert)
    return found


def take_alerts(firing: dict[str, dict[str, Any]], alerts: list[dict[str, Any]]) -> None:
    """Record which alerts fire: by fingerprint, which Alertmanager keeps per label set."""
    for alert in alerts:
        labels = alert["labels"]
        key = str(alert.get("fingerprint") or labels["alertname"])
        if alert.get("status") == "firing":
            firing[key] = {
                "alertname": str(labels["alertname"]),
                "starts_at": str(alert.get("startsAt", "")),
            }
        else:
            firing.pop(key, None)


def reading_from(firing: Mapping[str, Mapping[str, Any]]) -> PoolReading:
    if firing:
        names = sorted({str(a.get("alertname")) for a in firing.values()})
        return PoolReading(True, None, f"{', '.join(names)} firing")
    return PoolReading(False, None, "no capacity alert firing")


class AlertReceiver:
    """The HTTP side: it checks and parses requests, then hands payloads to `deliver`
    (which must be thread-safe); it never touches the controller itself."""

    def __init__(
        self,
        address: tuple[str, int],
        deliver: Callable[[Any], None],
        token: Secret | None = None,
    ) -> None:
        self.deliver = deliver
        self.token = token
        self.server = ThreadingHTTPServer(address, _handler(self))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self) -> AlertReceiver:
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def authorised(self, header: str | None) -> bool:
        if self.token is None:
            return True
        expected = f"Bearer {self.token.reveal()}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())


def _handler(receiver: AlertReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug("alert receiver: %s", one_line(format % args))

        def _answer(self, status: int, message: str) -> None:
            body = json.dumps({"status": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path in ("/-/healthy", "/-/ready"):
                self._answer(200, "ok")
            else:
                self._answer(404, "not found")

        def do_POST(self) -> None:
            if self.path.split("?")[0] != PATH:
                self._answer(404, f"alerts go to {PATH}")
                return
            if not receiver.authorised(self.headers.get("authorization")):
                self._answer(401, "missing or wrong bearer token")
                return
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY:
                self._answer(413 if length > MAX_BODY else 400, "need a JSON body up to 1 MiB")
                return
            try:
                payload = json.loads(self.rfile.read(length))
                if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
                    raise ValueError("no alerts list")
            except ValueError:
                self._answer(400, "not an Alertmanager webhook payload")
                return
            receiver.deliver(payload)
            self._answer(200, "ok")

    return Handler


async def serve(
    controller: FailoverController,
    address: tuple[str, int],
    stop: asyncio.Event,
    *,
    token: Secret | None = None,
    tick: float = 1.0,
    on_listening: Callable[[tuple[str, int]], None] | None = None,
) -> None:
    """Receive Alertmanager's webhooks and re-check the pool every `tick` seconds, so the
    waits of the policy end on time even when no new webhook arrives."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    receiver = AlertReceiver(
        address, lambda payload: loop.call_soon_threadsafe(inbox.put_nowait, payload), token
    ).start()
    if on_listening is not None:
        on_listening(receiver.address)
    pool = controller.config.pool
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                payload = await asyncio.wait_for(inbox.get(), tick)
                alerts = pool_alerts(payload, pool)
                before = dict(controller.firing)
                take_alerts(controller.firing, alerts)
                if controller.firing != before:
                    log.info(
                        "failover: pool %s capacity alerts now: %s",
                        pool,
                        reading_from(controller.firing).why,
                    )
            await controller.observe(reading_from(controller.firing))
    finally:
        receiver.stop()
