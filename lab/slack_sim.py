"""Slack incoming-webhook simulator for the lab and the tests: a real HTTP server on 127.0.0.1
that answers the way hooks.slack.com does, records every message it accepts, checks Block Kit
limits, and fails on demand.

Answers (status, plain-text body), as Slack documents them for incoming webhooks:
  200 ok                    accepted (recorded in `.messages`)
  400 invalid_payload       the body is not a JSON object (or a form field `payload=` holding one)
  400 no_text               neither `text` nor `blocks`
  400 invalid_blocks        a block breaks Block Kit's rules or limits (50 blocks; header
                            plain_text <= 150; section text <= 3000; <= 10 fields of <= 2000;
                            context 1-10 elements)
  403 action_prohibited     fault "action_prohibited"
  404 no_service            an unknown webhook path, or the webhook was revoked (`revoke()`)
  410 channel_is_archived   `archive_channel()`
  429 rate_limited          fault "rate_limited" (Retry-After header, seconds)
  500 rollup_error / 503    fault "5xx"

Faults: `fail(kind, count=1, retry_after=1)`; kinds: rate_limited, 5xx, action_prohibited,
channel_is_archived, no_service, slow (answers after `delay` seconds). Control over HTTP (no
auth, for `python -m lab.slack_sim`): GET /_sim/messages, POST /_sim/faults {"kind", "count",
"retry_after", "delay"}, DELETE /_sim/faults.
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

FAULT_KINDS = (
    "rate_limited",
    "5xx",
    "action_prohibited",
    "channel_is_archived",
    "no_service",
    "slow",
)
HEADER_LIMIT, SECTION_LIMIT, FIELD_LIMIT, MAX_FIELDS, MAX_BLOCKS = 150, 3000, 2000, 10, 50
BLOCK_TYPES = {"header", "section", "context", "divider", "actions", "image", "rich_text", "input"}


@dataclass
class _Fault:
    kind: str
    remaining: int | None
    retry_after: float = 1.0
    delay: float = 0.0


def block_problem(blocks: Any) -> str | None:
    """Why Slack would answer invalid_blocks, or None when the blocks are fine."""
    if not isinstance(blocks, list):
        return "blocks is not a list"
    if len(blocks) > MAX_BLOCKS:
        return f"{len(blocks)} blocks (at most {MAX_BLOCKS})"
    for n, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            return f"block {n} has no known type"
        kind = block["type"]
        if kind == "header":
            text = block.get("text")
            if not isinstance(text, dict) or text.get("type") != "plain_text":
                return f"header {n} needs plain_text"
            if not 0 < len(str(text.get("text", ""))) <= HEADER_LIMIT:
                return f"header {n} text must be 1-{HEADER_LIMIT} characters"
        elif kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and fields is None:
                return f"section {n} has neither text nor fields"
            if text is not None and (
                not isinstance(text, dict)
                or text.get("type") not in ("mrkdwn", "plain_text")
                or not 0 < len(str(text.get("text", ""))) <= SECTION_LIMIT
            ):
                return f"section {n} text must be 1-{SECTION_LIMIT} characters"
            if fields is not None:
                if not isinstance(fields, list) or not 0 < len(fields) <= MAX_FIELDS:
                    return f"section {n} must have 1-{MAX_FIELDS} fields"
                for f in fields:
                    if (
                        not isinstance(f, dict)
                        or not 0 < len(str(f.get("text", ""))) <= FIELD_LIMIT
                    ):
                        return f"a field of section {n} must be 1-{FIELD_LIMIT} characters"
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                return f"context {n} must have 1-10 elements"
    return None


class SlackSimulator:
    """One workspace with one incoming webhook, served on a real socket."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        # Shaped like a real one: /services/T.../B.../<24 secret characters>.
        self.path = (
            f"/services/T{secrets.token_hex(4).upper()}/B{secrets.token_hex(4).upper()}/"
            f"{secrets.token_urlsafe(18)}"
        )
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []  # every request: status and Slack's answer
        self._faults: list[_Fault] = []
        self._revoked = False
        self._archived = False
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----- lifecycle -----------------------------------------------------------------------

    def start(self) -> SlackSimulator:
        if self._server is None:
            self._server = ThreadingHTTPServer((self.host, self.port), _handler(self))
            self._server.daemon_threads = True
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SlackSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The webhook URL: a secret, as a real one is."""
        return self.base_url + self.path

    # ----- faults ----------------------------------------------------------------------------

    def fail(
        self, kind: str, count: int | None = 1, *, retry_after: float = 1.0, delay: float = 0.0
    ) -> None:
        """The next `count` posts (None: all until cleared) fail this way."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind is one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind, count, retry_after, delay))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def revoke(self) -> None:
        """The webhook is removed from its Slack app: every post gets 404 no_service."""
        self._revoked = True

    def archive_channel(self) -> None:
        self._archived = True

    # ----- answering -------------------------------------------------------------------------

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining is None or fault.remaining > 0:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    return fault
            return None

    def answer(self, path: str, content_type: str, raw: bytes) -> tuple[int, dict[str, str], str]:
        """Slack's answer to one POST: (status, headers, body)."""
        status, headers, body = self._judge(path, content_type, raw)
        with self._lock:
            self.requests.append({"status": status, "answer": body, "at": time.time()})
        return status, headers, body

    def _judge(self, path: str, content_type: str, raw: bytes) -> tuple[int, dict[str, str], str]:
        if path != self.path or self._revoked:
            return 404, {}, "no_service"
        fault = self._take_fault()
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "rate_limited":
                return 429, {"Retry-After": f"{fault.retry_after:g}"}, "rate_limited"
            elif fault.kind == "5xx":
                return 500, {}, "rollup_error"
            elif fault.kind == "action_prohibited":
                return 403, {}, "action_prohibited"
            elif fault.kind == "channel_is_archived":
                return 410, {}, "channel_is_archived"
            elif fault.kind == "no_service":
                return 404, {}, "no_service"
        if self._archived:
            return 410, {}, "channel_is_archived"
        try:
            text = raw.decode("utf-8")
            if content_type.startswith("application/x-www-form-urlencoded"):
                text = parse_qs(text).get("payload", [""])[0]
            payload = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            return 400, {}, "invalid_payload"
        if not isinstance(payload, dict):
            return 400, {}, "invalid_payload"
        has_text = isinstance(payload.get("text"), str) and payload["text"].strip()
        if not has_text and not payload.get("blocks"):
            return 400, {}, "no_text"
        if "blocks" in payload and block_problem(payload["blocks"]) is not None:
            return 400, {}, "invalid_blocks"
        with self._lock:
            self.messages.append(payload)
        return 200, {}, "ok"

    def control(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        if method == "GET" and path == "/_sim/messages":
            with self._lock:
                return 200, {"messages": list(self.messages), "requests": list(self.requests)}
        if path == "/_sim/faults":
            if method == "DELETE":
                self.clear_faults()
                return 200, {"ok": True}
            if method == "POST":
                try:
                    body = json.loads(raw or b"{}")
                    self.fail(
                        str(body.get("kind")),
                        body.get("count", 1),
                        retry_after=float(body.get("retry_after", 1)),
                        delay=float(body.get("delay", 0)),
                    )
                except (ValueError, TypeError) as e:
                    return 400, {"error": str(e)}
                return 200, {"ok": True}
        return 404, {"error": f"no control endpoint {method} {path}"}


def _handler(sim: SlackSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request line holds the webhook's secret path

        def _body(self) -> bytes:
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, headers: dict[str, str], body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _control(self, method: str) -> None:
            status, data = sim.control(method, self.path, self._body())
            self._send(status, {}, json.dumps(data).encode(), "application/json")

        def do_GET(self) -> None:
            if self.path.startswith("/_sim/"):
                self._control("GET")
            else:
                self._send(400, {}, b"invalid_payload", "text/plain")

        def do_DELETE(self) -> None:
            self._control("DELETE")

        def do_POST(self) -> None:
            raw = self._body()
            if self.path.startswith("/_sim/"):
                status, data = sim.control("POST", self.path, raw)
                self._send(status, {}, json.dumps(data).encode(), "application/json")
                return
            status, headers, body = sim.answer(self.path, self.headers.get("content-type", ""), raw)
            self._send(status, headers, body.encode(), "text/html")

    return Handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A local Slack incoming webhook.")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    sim = SlackSimulator(port=args.port).start()
    print(sim.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
