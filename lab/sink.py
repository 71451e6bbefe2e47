"""The lab's stand-in for Slack and other webhooks: it records every notification it gets.

Alertmanager's receivers point here in the lab. Each POST becomes one line of
`notifications.jsonl` ({received, path, body}); `GET /notifications` lists them, so tests
and demos can see which alerts were sent, grouped how, and when they resolved.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class NotificationSink:
    def __init__(self, record: Path, host: str = "127.0.0.1", port: int = 0):
        self.record = record
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                sink.add(self.path, body)
                # Slack's incoming webhooks answer a plain "ok".
                self._answer(200, b"ok")

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/notifications":
                    data = json.dumps(sink.notifications()).encode()
                    self._answer(200, data, "application/json")
                elif self.path == "/-/ready":
                    self._answer(200, b"ready\n")
                else:
                    self._answer(404, b"404 page not found\n")

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def add(self, path: str, body: Any) -> None:
        line = json.dumps({"received": time.time(), "path": path, "body": body})
        with self._lock, self.record.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    def notifications(self) -> list[dict[str, Any]]:
        with self._lock:
            try:
                text = self.record.read_text(encoding="utf-8")
            except FileNotFoundError:
                return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def start(self) -> NotificationSink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
