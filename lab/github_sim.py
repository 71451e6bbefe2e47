"""GitHub REST API simulator for the lab: a real HTTP server on 127.0.0.1 that answers runner,
variable, issue and workflow-run requests in GitHub's shapes (API version 2022-11-28), with
bearer-token auth, rate-limit accounting, ETags, pagination and injectable faults.

GitHub endpoints (see /work/shared/reference/github-api.md for the shapes):
  {base} is /orgs/{org}, /repos/{org}/{repo} (any repo of the org exists) or
  /enterprises/{enterprise}.
  GET    {base}/actions/runners?per_page=&page=&name=     list, Link header when more pages
  GET    {base}/actions/runners/{id}                      200 runner | 404
  DELETE {base}/actions/runners/{id}                      204 | 422 while busy | 404
  POST   {base}/actions/runners/registration-token        201 {token, expires_at}
  POST   {base}/actions/runners/remove-token              201 {token, expires_at}
  GET    {base}/actions/runners/deprecations/{version}    deprecation dates (null: supported)
  GET    /orgs/{org}/actions/variables, /repos/{o}/{r}/actions/variables   list; POST creates
  GET|PATCH|DELETE .../actions/variables/{name}           200 | 204 | 204; 404 when missing
  POST   /repos/{o}/{r}/issues; GET ?state=&labels=; GET|PATCH /repos/{o}/{r}/issues/{n}
  GET|POST /repos/{o}/{r}/issues/{n}/comments
  GET    /repos/{o}/{r}/actions/runs?status=; GET /repos/{o}/{r}/actions/runs/{id}/jobs
  GET    /rate_limit                                      never counted
  Public, without a token and never counted (what the runbooks reach without one):
  GET|HEAD /                                              the API root (a Date header for clocks)
  GET    /repos/actions/runner/releases/latest            the newest runner release
  GET    /actions/runner/releases/download/v{V}/actions-runner-{os}-{arch}-{V}.tar.gz
                                                          the package, from `release_provider`
  GET    /api/v2/status.json                              githubstatus.com's summary, all green
  GET    /_apis/health                                    the Actions service's health check
  HEAD works on every GET path.

Behaviour worth knowing: every answer carries x-ratelimit-* headers; a counted request costs
one point whatever its method; a GET whose If-None-Match matches answers 304 without a body
and costs nothing (even when the budget is spent); injected faults cost nothing.

Control API (not part of GitHub; no auth; JSON in and out). Each has a Python method twin:
  GET    /_sim/state                    runners, variables, issues, jobs, rate limit, faults
  GET    /_sim/requests                 the last 1000 API requests {method, path, status, ...}
  POST   /_sim/faults                   {"kind": "5xx", "count": N, "status": 502}
                                        {"kind": "rate-limited", "count": N, "status": 429|403,
                                         "retry_after": S|null}
                                        {"kind": "slow", "count": N, "delay": S}
                                        {"kind": "malformed", "count": N}
                                        optional "path": only paths starting with it;
                                        "count": null means until cleared
  DELETE /_sim/faults                   clear all faults
  POST   /_sim/rate-limit               {"limit", "used", "remaining", "reset_in"} (any subset)
  POST   /_sim/clock                    {"advance": seconds} moves the simulator's clock on
  POST   /_sim/runners                  add a runner (GitHub shape; labels may be plain names;
                                        optional "scope": "org" | "repo:NAME" | "enterprise")
  PATCH  /_sim/runners/{id}             change status, busy, version, name, labels, os, ...
  DELETE /_sim/runners/{id}             remove a runner
  POST   /_sim/register                 {"token", "name", "labels", "ephemeral", "replace"}:
                                        what config.sh does; 201 runner (offline, version null);
                                        404 {"message": "Not Found", "reason": unknown|used|
                                        expired|wrong-kind} like the real registration endpoint;
                                        409 when the name is taken and "replace" is false
  POST   /_sim/unregister               {"token", "name"}: what `config.sh remove` does
  POST   /_sim/jobs                     {"repo", "labels", "name", "workflow", "age_seconds",
                                         "run_id"}: a job waiting for a runner
  PATCH  /_sim/jobs/{id}                {"status": "in_progress", "runner_id": N} or
                                        {"status": "completed", "conclusion": "success"}
  POST   /_sim/deprecations             {"version", "registration_deprecates_at",
                                         "runtime_deprecates_at"}

Run it: python -m lab.github_sim --port 8080 --org acme --token T [--runners N | --fleet FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import hmac
import json
import logging
import math
import os
import random
import re
import secrets
import signal
import socket
import string
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

log = logging.getLogger(__name__)

DOCS_URL = "https://docs.github.com/rest"
RATE_LIMIT_DOCS_URL = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
API_VERSION = "2022-11-28"
CURRENT_RUNNER_VERSION = "2.330.0"
TOKEN_LIFETIME_SECONDS = 3600
RATE_WINDOW_SECONDS = 3600
UNAUTHENTICATED_LIMIT = 60
# Labels the runner sets itself; GitHub reports them with type "read-only".
READ_ONLY_LABELS = ("self-hosted", "Linux", "Windows", "macOS", "X64", "ARM64", "ARM")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
FAULT_KINDS = ("5xx", "rate-limited", "slow", "malformed")

# (pool label, extra labels, architecture label, share of the fleet, ephemeral)
_POOLS = (
    ("pool-a", (), "X64", 0.5, False),
    ("pool-b", (), "ARM64", 0.3, False),
    ("pool-gpu", ("gpu",), "X64", 0.2, True),
)
_OLD_VERSIONS = ("2.328.0", "2.319.1")
_RELEASE_ASSET = re.compile(
    r"/actions/runner/releases/download/v([0-9]+\.[0-9]+\.[0-9]+)/"
    r"actions-runner-(linux|osx|win)-(x64|arm64|arm)-([0-9]+\.[0-9]+\.[0-9]+)\.(tar\.gz|zip)"
)


class RegistrationRefused(Exception):
    """A registration or removal token was not accepted (what config.sh would see as a 404)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"registration refused: {reason}")
        self.reason = reason


class _ApiError(Exception):
    def __init__(
        self, status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra


@dataclass
class _Answer:
    status: int
    body: Any = None
    headers: dict[str, str] | None = None
    raw: bytes | None = None  # a body that is not JSON (a release package)
    content_type: str | None = None


@dataclass
class _Fault:
    kind: str
    remaining: int | None
    path: str | None = None
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.remaining,
            "path": self.path,
            "status": self.status,
            "retry_after": self.retry_after,
            "delay": self.delay,
        }


@dataclass
class _Bucket:
    limit: int
    used: int = 0
    reset: float = 0.0

    def roll(self, now: float) -> None:
        if now >= self.reset:
            self.used = 0
            self.reset = now + RATE_WINDOW_SECONDS

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(math.ceil(self.reset)),
            "x-ratelimit-resource": "core",
        }

    def as_json(self) -> dict[str, int]:
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "reset": math.ceil(self.reset),
        }


@dataclass
class _RunnerToken:
    kind: str  # "registration" or "remove"
    scope: tuple[str, str]
    expires_at: float
    used: bool = False


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _error_body(status: int, message: str, docs: str = DOCS_URL, **extra: Any) -> dict[str, Any]:
    return {"message": message, **extra, "documentation_url": docs, "status": str(status)}


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(query.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def generate_fleet(count: int, *, seed: int = 0, start_id: int = 1) -> list[dict[str, Any]]:
    """Return `count` runners in GitHub's shape spread over pools pool-a, pool-b and pool-gpu.

    Most are online (idle or busy), a few are offline, a few orphaned (offline and busy) and a
    few run an old runner version; the same seed always gives the same fleet.
    """
    rng = random.Random(seed)  # noqa: S311 -- a reproducible fleet, not a secret
    fleet = []
    numbers: dict[str, int] = {}
    weights = [share for _, _, _, share, _ in _POOLS]
    for offset in range(count):
        pool, extra, arch, _, ephemeral = rng.choices(_POOLS, weights=weights)[0]
        numbers[pool] = numbers.get(pool, 0) + 1
        roll = rng.random()
        status = "offline" if roll >= 0.88 else "online"
        busy = 0.50 <= roll < 0.88 or roll >= 0.96
        version_roll = rng.random()
        if version_roll < 0.05:
            version = _OLD_VERSIONS[1]
        elif version_roll < 0.15:
            version = _OLD_VERSIONS[0]
        else:
            version = CURRENT_RUNNER_VERSION
        fleet.append(
            {
                "id": start_id + offset,
                "name": f"{pool}-{numbers[pool]:03d}",
                "os": "Linux",
                "status": status,
                "busy": busy,
                "ephemeral": ephemeral,
                "runner_group_id": 1,
                "version": version,
                "labels": ["self-hosted", "Linux", arch, pool, *extra],
            }
        )
    return fleet


class GitHubSimulator:
    """A GitHub REST API for one organisation, served on a real socket.

    All state lives behind one lock, so the HTTP threads, the lab and tests can change it at
    any time. Use as a context manager or call `start()` / `stop()`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        org: str = "acme",
        token: str | None = None,
        runners: Iterable[Mapping[str, Any]] = (),
        *,
        enterprise: str = "acme-enterprise",
        rate_limit: int = 5000,
        deprecations: Mapping[str, tuple[str | None, str | None]] | None = None,
    ) -> None:
        if token is not None and not token:
            raise ValueError("the simulator needs a non-empty token to check requests against")
        self.host = host
        self.port = port
        self.org = org
        self.enterprise = enterprise
        # Without a token given, make one up, as GitHub would issue one: tests read `.token`.
        self.token = token if token is not None else "ghp_" + secrets.token_urlsafe(27)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._clock_offset = 0.0
        now = self._now()
        self._bucket = _Bucket(limit=rate_limit, reset=now + RATE_WINDOW_SECONDS)
        self._anonymous = _Bucket(limit=UNAUTHENTICATED_LIMIT, reset=now + RATE_WINDOW_SECONDS)
        self._faults: list[_Fault] = []
        self._requests: deque[dict[str, Any]] = deque(maxlen=1000)
        self._in_flight = 0
        self.peak_in_flight = 0
        # Runners per scope: ("org", org) | ("repo", "owner/name") | ("enterprise", name).
        self._fleets: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        self._next_runner_id = 1
        self._label_ids: dict[str, int] = {}
        self._runner_tokens: dict[str, _RunnerToken] = {}
        self._variables: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._issues: dict[str, dict[int, dict[str, Any]]] = {}
        self._comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._next_issue_id = 1
        self._next_comment_id = 1
        self._runs: dict[str, dict[int, dict[str, Any]]] = {}
        self._jobs: dict[int, dict[str, Any]] = {}
        self._next_run_id = 1
        self._next_job_id = 1
        self._deprecations: dict[str, tuple[str | None, str | None]] = {
            "2.319.1": ("2026-03-01T00:00:00Z", "2026-09-01T00:00:00Z"),
        }
        self._deprecations.update(deprecations or {})
        # The newest actions/runner release, and who builds its packages (the lab does).
        self.latest_release = CURRENT_RUNNER_VERSION
        self.release_provider: Callable[[str, str], bytes | None] | None = None
        for label in READ_ONLY_LABELS:
            self._label_id(label)
        for runner in runners:
            self.add_runner(runner)

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> GitHubSimulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _make_handler(self), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"github-sim-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        # Idle keep-alive connections would otherwise keep their threads reading forever.
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> GitHubSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    # ----- clock and rate limit ---------------------------------------------------------------

    def _now(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the simulator's clock on (tokens expire, the rate-limit window resets)."""
        with self._lock:
            self._clock_offset += seconds

    def rate_limit(self) -> dict[str, int]:
        """The token's budget: limit, used, remaining, reset (epoch seconds)."""
        with self._lock:
            self._bucket.roll(self._now())
            return self._bucket.as_json()

    @property
    def rate_limit_used(self) -> int:
        return self.rate_limit()["used"]

    def set_rate_limit(
        self,
        *,
        limit: int | None = None,
        used: int | None = None,
        remaining: int | None = None,
        reset_in: float | None = None,
    ) -> None:
        with self._lock:
            self._bucket.roll(self._now())
            if limit is not None:
                self._bucket.limit = limit
            if used is not None:
                self._bucket.used = used
            if remaining is not None:
                self._bucket.used = max(0, self._bucket.limit - remaining)
            if reset_in is not None:
                self._bucket.reset = self._now() + reset_in

    # ----- faults ------------------------------------------------------------------------------

    def inject_5xx(
        self, count: int | None = 1, *, status: int = 502, path: str | None = None
    ) -> None:
        self._add_fault(_Fault("5xx", count, path, status=status))

    def inject_rate_limited(
        self,
        count: int | None = 1,
        *,
        retry_after: float | None = 60,
        status: int = 429,
        path: str | None = None,
    ) -> None:
        """Secondary-limit answers: 429 (or 403) with retry-after, or without it when None."""
        self._add_fault(_Fault("rate-limited", count, path, status=status, retry_after=retry_after))

    def inject_slow(self, count: int | None = 1, *, delay: float, path: str | None = None) -> None:
        self._add_fault(_Fault("slow", count, path, delay=delay))

    def inject_malformed(self, count: int | None = 1, *, path: str | None = None) -> None:
        """Answers 200 with the real body cut in half (what a broken proxy does)."""
        self._add_fault(_Fault("malformed", count, path))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _add_fault(self, fault: _Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("a fault's count must be at least 1 (or None for until cleared)")
        if fault.kind == "5xx" and not 500 <= fault.status <= 599:
            raise ValueError("a 5xx fault needs a status from 500 to 599")
        if fault.kind == "rate-limited" and fault.status not in (403, 429):
            raise ValueError("a rate-limited fault answers 403 or 429")
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is None or path.startswith(fault.path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # ----- runners -----------------------------------------------------------------------------

    def _label_id(self, name: str) -> int:
        # GitHub gives each distinct label one id; labels compare case-insensitively.
        key = name.lower()
        if key not in self._label_ids:
            self._label_ids[key] = len(self._label_ids) + 1
        return self._label_ids[key]

    def _label(self, label: str | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(label, str):
            label = {"name": label}
        name = label.get("name")
        if not isinstance(name, str):
            raise ValueError("a label needs a string name")
        kind = label.get("type")
        if kind is None:
            read_only = {n.lower() for n in READ_ONLY_LABELS}
            kind = "read-only" if name.lower() in read_only else "custom"
        label_id = label.get("id")
        if label_id is None:
            label_id = self._label_id(name)
        return {"id": label_id, "name": name, "type": kind}

    def _scope_key(self, scope: str | None) -> tuple[str, str]:
        if scope is None or scope == "org":
            return ("org", self.org)
        if scope == "enterprise":
            return ("enterprise", self.enterprise)
        if scope.startswith("repo:"):
            repo = scope.removeprefix("repo:")
            if "/" not in repo:
                repo = f"{self.org}/{repo}"
            return ("repo", repo.lower())
        raise ValueError(f"unknown scope {scope!r}: use org, enterprise or repo:NAME")

    def add_runner(
        self, runner: Mapping[str, Any] | None = None, *, scope: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Add a runner (GitHub's shape; labels may be names) and return it as GitHub shows it."""
        data = {**(runner or {}), **fields}
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("a runner needs a non-empty string name")
        # A lone surrogate cannot travel as UTF-8, and GitHub would not have stored it.
        name.encode("utf-8")
        with self._lock:
            runner_id = data.get("id")
            if runner_id is None:
                runner_id = self._next_runner_id
            if not isinstance(runner_id, int) or isinstance(runner_id, bool) or runner_id < 1:
                raise ValueError("a runner id is a positive integer")
            if self._find_runner(runner_id) is not None:
                raise ValueError(f"runner id {runner_id} is taken")
            self._next_runner_id = max(self._next_runner_id, runner_id + 1)
            record = {
                "id": runner_id,
                "name": name,
                "os": data.get("os", "Linux"),
                "status": data.get("status", "online"),
                "busy": bool(data.get("busy", False)),
                "ephemeral": bool(data.get("ephemeral", False)),
                "runner_group_id": data.get("runner_group_id", 1),
                "version": data.get("version", CURRENT_RUNNER_VERSION),
                "labels": [self._label(x) for x in data.get("labels", ["self-hosted", "Linux"])],
            }
            self._fleets.setdefault(self._scope_key(scope), {})[runner_id] = record
            return copy.deepcopy(record)

    def _find_runner(self, runner_id: int) -> tuple[tuple[str, str], dict[str, Any]] | None:
        for key, fleet in self._fleets.items():
            if runner_id in fleet:
                return key, fleet[runner_id]
        return None

    def runner(self, runner_id: int) -> dict[str, Any]:
        with self._lock:
            found = self._find_runner(runner_id)
            if found is None:
                raise KeyError(runner_id)
            return copy.deepcopy(found[1])

    def runners(self, scope: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            fleet = self._fleets.get(self._scope_key(scope), {})
            return [copy.deepcopy(fleet[i]) for i in sorted(fleet)]

    def update_runner(self, runner_id: int, **changes: Any) -> dict[str, Any]:
        """Change what GitHub reports: status ("online"/"offline"), busy, version, name, ..."""
        allowed = {"status", "busy", "version", "name", "os", "labels", "ephemeral"}
        unknown = set(changes) - allowed - {"runner_group_id"}
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} of a runner")
        with self._lock:
            found = self._find_runner(runner_id)
            if found is None:
                raise KeyError(runner_id)
            record = found[1]
            for key, value in changes.items():
                record[key] = [self._label(x) for x in value] if key == "labels" else value
            return copy.deepcopy(record)

    def remove_runner(self, runner_id: int) -> None:
        with self._lock:
            found = self._find_runner(runner_id)
            if found is None:
                raise KeyError(runner_id)
            del self._fleets[found[0]][runner_id]

    # ----- registration ------------------------------------------------------------------------

    def create_runner_token(self, kind: str = "registration", scope: str | None = None) -> dict:
        """What POST .../registration-token (or remove-token) answers, without an HTTP call."""
        with self._lock:
            return self._issue_runner_token(kind, self._scope_key(scope))

    def _issue_runner_token(self, kind: str, scope: tuple[str, str]) -> dict[str, str]:
        alphabet = string.ascii_uppercase + string.digits
        token = "".join(secrets.choice(alphabet) for _ in range(29))
        expires = self._now() + TOKEN_LIFETIME_SECONDS
        self._runner_tokens[token] = _RunnerToken(kind, scope, expires)
        return {"token": token, "expires_at": _iso_ms(expires)}

    def _check_runner_token(self, token: str, kind: str) -> _RunnerToken:
        record = self._runner_tokens.get(token)
        if record is None:
            raise RegistrationRefused("unknown")
        if record.kind != kind:
            raise RegistrationRefused("wrong-kind")
        if record.used:
            raise RegistrationRefused("used")
        if self._now() >= record.expires_at:
            raise RegistrationRefused("expired")
        return record

    def register_runner(
        self,
        token: str,
        name: str,
        labels: Sequence[str] = (),
        *,
        ephemeral: bool = False,
        os: str = "Linux",
        arch: str = "X64",
        replace: bool = False,
    ) -> dict[str, Any]:
        """What `config.sh --token TOKEN --name NAME --labels ...` does: checks the one-hour,
        single-use registration token and adds the runner, offline and without a version until
        it first connects. Raises RegistrationRefused, or ValueError when the name is taken."""
        with self._lock:
            record = self._check_runner_token(token, "registration")
            fleet = self._fleets.setdefault(record.scope, {})
            taken = [rid for rid, r in fleet.items() if r["name"] == name]
            if taken and not replace:
                raise ValueError(f"a runner exists with the same name {name!r}")
            record.used = True
            for rid in taken:
                del fleet[rid]
            kind, scope_name = record.scope
            return self.add_runner(
                name=name,
                os=os,
                status="offline",
                busy=False,
                ephemeral=ephemeral,
                version=None,
                labels=["self-hosted", os, arch, *labels],
                scope=kind if kind != "repo" else f"repo:{scope_name}",
            )

    def unregister_runner(self, token: str, name: str) -> None:
        """What `config.sh remove --token TOKEN` does for the runner called `name`."""
        with self._lock:
            record = self._check_runner_token(token, "remove")
            fleet = self._fleets.get(record.scope, {})
            matches = [rid for rid, r in fleet.items() if r["name"] == name]
            if not matches:
                raise KeyError(name)
            record.used = True
            for rid in matches:
                del fleet[rid]

    def deprecation(self, version: str) -> tuple[str | None, str | None]:
        """(registration_deprecates_at, runtime_deprecates_at) of a version; None: supported."""
        with self._lock:
            return self._deprecations.get(version, (None, None))

    def version_refused(self, version: str) -> bool:
        """True when GitHub no longer lets this runner version receive messages."""
        runtime = self.deprecation(version)[1]
        if not runtime:
            return False
        cutoff = datetime.strptime(runtime, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return cutoff.timestamp() <= self._now()

    def deprecate_version(
        self,
        version: str,
        registration_deprecates_at: str | None,
        runtime_deprecates_at: str | None,
    ) -> None:
        with self._lock:
            self._deprecations[version] = (registration_deprecates_at, runtime_deprecates_at)

    # ----- jobs --------------------------------------------------------------------------------

    def _repo_key(self, repo: str) -> str:
        return (repo if "/" in repo else f"{self.org}/{repo}").lower()

    def add_queued_job(
        self,
        repo: str,
        labels: Sequence[str] = ("self-hosted", "Linux"),
        *,
        name: str = "build",
        workflow: str = "CI",
        age_seconds: float = 0.0,
        run_id: int | None = None,
    ) -> dict[str, Any]:
        """A job waiting for a runner, in a new workflow run (or in run `run_id`)."""
        with self._lock:
            key = self._repo_key(repo)
            runs = self._runs.setdefault(key, {})
            created = self._now() - age_seconds
            if run_id is None:
                run_id = self._next_run_id
                self._next_run_id += 1
                runs[run_id] = {
                    "id": run_id,
                    "name": workflow,
                    "display_title": workflow,
                    "run_number": len(runs) + 1,
                    "event": "push",
                    "head_branch": "main",
                    "head_sha": hashlib.sha256(str(run_id).encode()).hexdigest()[:40],
                    "workflow_id": 1,
                    "created_at": created,
                    "updated_at": created,
                    "html_url": f"https://github.com/{key}/actions/runs/{run_id}",
                    "repository": {"name": key.split("/", 1)[1], "full_name": key},
                }
            elif run_id not in runs:
                raise KeyError(run_id)
            else:
                runs[run_id]["updated_at"] = self._now()
            job_id = self._next_job_id
            self._next_job_id += 1
            self._jobs[job_id] = {
                "id": job_id,
                "run_id": run_id,
                "repo": key,
                "name": name,
                "workflow_name": runs[run_id]["name"],
                "labels": list(labels),
                "status": "queued",
                "conclusion": None,
                "created_at": created,
                "started_at": None,
                "completed_at": None,
                "runner_id": None,
                "runner_name": None,
                "runner_group_id": None,
            }
            return self._job_json(self._jobs[job_id])

    def update_job(
        self,
        job_id: int,
        *,
        status: str,
        runner_id: int | None = None,
        conclusion: str | None = None,
    ) -> dict[str, Any]:
        """Move a job on: "in_progress" on a runner, or "completed" with a conclusion."""
        if status not in ("queued", "in_progress", "completed"):
            raise ValueError("a job's status is queued, in_progress or completed")
        with self._lock:
            job = self._jobs[job_id]
            job["status"] = status
            now = self._now()
            self._runs[job["repo"]][job["run_id"]]["updated_at"] = now
            if status == "in_progress":
                found = self._find_runner(runner_id) if runner_id is not None else None
                job["started_at"] = now
                job["runner_id"] = runner_id
                job["runner_name"] = found[1]["name"] if found else None
                job["runner_group_id"] = found[1]["runner_group_id"] if found else None
            elif status == "completed":
                job["completed_at"] = now
                job["conclusion"] = conclusion or "success"
            return self._job_json(job)

    def forget_finished_runs(self, keep: int = 200) -> int:
        """Drop all but the newest `keep` completed runs of each repository (and their jobs).

        A long-running lab finishes thousands of jobs; listing runs looks at every job.
        Returns how many runs were dropped.
        """
        dropped = 0
        with self._lock:
            for runs in self._runs.values():
                done = sorted(r for r in runs if self._run_status(r) == "completed")
                for run_id in done[: max(0, len(done) - keep)]:
                    del runs[run_id]
                    dropped += 1
            kept = {(repo, run_id) for repo, runs in self._runs.items() for run_id in runs}
            for job_id in [
                i for i, j in self._jobs.items() if (j["repo"], j["run_id"]) not in kept
            ]:
                del self._jobs[job_id]
        return dropped

    def _run_status(self, run_id: int) -> str:
        statuses = {j["status"] for j in self._jobs.values() if j["run_id"] == run_id}
        if "in_progress" in statuses:
            return "in_progress"
        if "queued" in statuses:
            return "queued"
        return "completed"

    def _run_json(self, run: dict[str, Any]) -> dict[str, Any]:
        status = self._run_status(run["id"])
        jobs = [j for j in self._jobs.values() if j["run_id"] == run["id"]]
        conclusion = None
        if status == "completed":
            failed = any(j["conclusion"] not in ("success", "skipped") for j in jobs)
            conclusion = "failure" if failed else "success"
        started = min((j["started_at"] for j in jobs if j["started_at"]), default=None)
        return {
            **{k: v for k, v in run.items() if not k.endswith("_at")},
            "status": status,
            "conclusion": conclusion,
            "created_at": _iso(run["created_at"]),
            "updated_at": _iso(run["updated_at"]),
            "run_started_at": _iso(started or run["created_at"]),
            "jobs_url": f"{self._base_url()}/repos/{run['repository']['full_name']}"
            f"/actions/runs/{run['id']}/jobs",
        }

    def _job_json(self, job: dict[str, Any]) -> dict[str, Any]:
        def stamp(ts: float | None) -> str | None:
            return None if ts is None else _iso(ts)

        return {
            "id": job["id"],
            "run_id": job["run_id"],
            "name": job["name"],
            "workflow_name": job["workflow_name"],
            "head_branch": "main",
            "status": job["status"],
            "conclusion": job["conclusion"],
            "created_at": stamp(job["created_at"]),
            "started_at": stamp(job["started_at"]),
            "completed_at": stamp(job["completed_at"]),
            "labels": list(job["labels"]),
            "runner_id": job["runner_id"],
            "runner_name": job["runner_name"],
            "runner_group_id": job["runner_group_id"],
            "steps": [],
            "html_url": f"https://github.com/{job['repo']}/actions/runs/{job['run_id']}"
            f"/job/{job['id']}",
        }

    # ----- readers for tests and the lab ------------------------------------------------------

    def issues(self, repo: str) -> list[dict[str, Any]]:
        with self._lock:
            issues = self._issues.get(self._repo_key(repo), {})
            return [self._public_issue(issues[n]) for n in sorted(issues)]

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._comments.get((self._repo_key(repo), number), []))

    def variables(self, scope: str | None = None) -> dict[str, str]:
        """Variable name -> value, for "org" (default) or "repo:NAME"."""
        with self._lock:
            store = self._variables.get(self._scope_key(scope), {})
            return {name: v["value"] for name, v in store.items()}

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "org": self.org,
                "enterprise": self.enterprise,
                "runners": {
                    f"{kind}:{name}": [copy.deepcopy(f[i]) for i in sorted(f)]
                    for (kind, name), f in self._fleets.items()
                },
                "variables": {
                    f"{kind}:{name}": copy.deepcopy(store)
                    for (kind, name), store in self._variables.items()
                },
                "issues": {repo: self.issues(repo) for repo in self._issues},
                "jobs": [self._job_json(j) for j in self._jobs.values()],
                "rate_limit": self.rate_limit(),
                "faults": [f.as_json() for f in self._faults],
                "peak_in_flight": self.peak_in_flight,
            }

    # ----- HTTP dispatch -----------------------------------------------------------------------

    def _base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _authenticated(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, credential = header.strip().partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return False
        return hmac.compare_digest(credential.strip().encode(), self.token.encode())

    def _enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _record(self, method: str, target: str, status: int, conditional: bool) -> None:
        with self._lock:
            self._requests.append(
                {"method": method, "path": target, "status": status, "conditional": conditional}
            )

    def handle_api(
        self, method: str, target: str, headers: Mapping[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one GitHub API request: (status, headers, body bytes)."""
        split = urlsplit(target)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        fault = self._take_fault(path)
        if fault is not None and fault.kind == "slow":
            # Interruptible, so stop() does not wait for a long delay to pass.
            self._stopping.wait(fault.delay)
        authorization = headers.get("authorization")
        if method == "GET":
            public = self._public(path)
            if public is not None:
                return self._finish(public, None)
        with self._lock:
            now = self._now()
            self._bucket.roll(now)
            self._anonymous.roll(now)
            if path == "/rate_limit" and not authorization:
                return self._finish(_Answer(200, self._rate_limit_json(self._anonymous)), None)
            if not self._authenticated(authorization):
                self._anonymous.used = min(self._anonymous.limit, self._anonymous.used + 1)
                body = _error_body(401, "Bad credentials")
                return self._finish(_Answer(401, body, self._anonymous.headers()), None)
            if path == "/rate_limit":
                return self._finish(_Answer(200, self._rate_limit_json(self._bucket)), None)
            if fault is not None and fault.kind == "5xx":
                status = HTTPStatus(fault.status)
                return self._finish(_Answer(fault.status, _error_body(fault.status, status.phrase)))
            if fault is not None and fault.kind == "rate-limited":
                extra = {}
                if fault.retry_after is not None:
                    extra["retry-after"] = str(math.ceil(fault.retry_after))
                message = (
                    "You have exceeded a secondary rate limit. Please wait a few minutes "
                    "before you try again."
                )
                body = _error_body(fault.status, message, RATE_LIMIT_DOCS_URL)
                return self._finish(_Answer(fault.status, body, extra))
            try:
                body_json = self._parse_body(method, raw_body)
                if method == "GET":
                    try:
                        answer = self._route(method, path, query, body_json)
                    except _ApiError:
                        # GitHub counts a 404 like any other answer.
                        self._charge()
                        raise
                    if answer.status == 200 and answer.body is not None:
                        payload = _encode(answer.body)
                        etag = 'W/"' + hashlib.sha256(payload).hexdigest()[:40] + '"'
                        answer.headers = {**(answer.headers or {}), "etag": etag}
                        if _etag_matches(headers.get("if-none-match"), etag):
                            return self._finish(_Answer(304, None, answer.headers), None)
                    self._charge()
                else:
                    # Charge before acting, so a spent budget never changes state.
                    self._charge()
                    answer = self._route(method, path, query, body_json)
            except _ApiError as err:
                docs = RATE_LIMIT_DOCS_URL if err.status == 403 else DOCS_URL
                body = _error_body(err.status, err.message, docs, **err.extra)
                answer = _Answer(err.status, body, err.headers)
            return self._finish(answer, fault)

    def _public(self, path: str) -> _Answer | None:
        """Answers GitHub gives anyone: the API root, releases, status pages."""
        base = self._base_url()
        if path in ("", "/"):
            return _Answer(
                200,
                {
                    "current_user_url": f"{base}/user",
                    "organization_url": f"{base}/orgs/{{org}}",
                    "rate_limit_url": f"{base}/rate_limit",
                    "repository_url": f"{base}/repos/{{owner}}/{{repo}}",
                },
            )
        if path == "/repos/actions/runner/releases/latest":
            version = self.latest_release
            assets = [
                {
                    "name": f"actions-runner-linux-{arch}-{version}.tar.gz",
                    "browser_download_url": f"{base}/actions/runner/releases/download/v{version}"
                    f"/actions-runner-linux-{arch}-{version}.tar.gz",
                    "content_type": "application/gzip",
                }
                for arch in ("x64", "arm64", "arm")
            ]
            return _Answer(
                200,
                {
                    "url": f"{base}/repos/actions/runner/releases/1",
                    "html_url": f"https://github.com/actions/runner/releases/tag/v{version}",
                    "id": 1,
                    "tag_name": f"v{version}",
                    "name": f"v{version}",
                    "draft": False,
                    "prerelease": False,
                    "published_at": _iso(self._now() - 86400 * 9),
                    "assets": assets,
                },
            )
        match = _RELEASE_ASSET.fullmatch(path)
        if match:
            version, os_name, arch, again, _ = match.groups()
            package = None
            if version == again and os_name == "linux" and self.release_provider is not None:
                package = self.release_provider(version, arch)
            if package is None:
                return _Answer(404, raw=b"Not Found", content_type="text/plain; charset=utf-8")
            return _Answer(200, raw=package, content_type="application/octet-stream")
        if path == "/api/v2/status.json":
            return _Answer(
                200,
                {
                    "page": {
                        "id": "kctbh9vrtdwd",
                        "name": "GitHub",
                        "url": "https://www.githubstatus.com",
                    },
                    "status": {"indicator": "none", "description": "All Systems Operational"},
                },
            )
        if path == "/_apis/health":
            return _Answer(200, {"status": "healthy"})
        return None

    def _charge(self) -> None:
        if self._bucket.remaining <= 0:
            message = "API rate limit exceeded for user ID 1."
            raise _ApiError(403, message)
        self._bucket.used += 1

    def _finish(
        self, answer: _Answer, fault: _Fault | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {
            **self._bucket.headers(),
            "x-github-api-version-selected": API_VERSION,
            "x-github-request-id": secrets.token_hex(8).upper(),
            "vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
            **(answer.headers or {}),
        }
        body = b""
        if answer.raw is not None:
            headers["content-type"] = answer.content_type or "application/octet-stream"
            return answer.status, headers, answer.raw
        if answer.body is not None and answer.status not in (204, 304):
            body = _encode(answer.body)
            headers["content-type"] = "application/json; charset=utf-8"
            if fault is not None and fault.kind == "malformed":
                body = body[: max(1, len(body) // 2)]
                headers.pop("etag", None)
        return answer.status, headers, body

    @staticmethod
    def _parse_body(method: str, raw: bytes) -> Any:
        if method in ("GET", "DELETE") or not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _ApiError(400, "Problems parsing JSON") from None
        if not isinstance(body, dict):
            raise _ApiError(422, "Invalid request. The body is not an object.")
        return body

    def _rate_limit_json(self, bucket: _Bucket) -> dict[str, Any]:
        core = bucket.as_json()
        return {"resources": {"core": core}, "rate": core}

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> _Answer:
        scope, rest = self._split_scope(path)
        for route_method, pattern, handler in _ROUTES:
            match = pattern.fullmatch(rest)
            if match and route_method == method:
                return handler(self, scope, query, body, *match.groups())
        raise _ApiError(404, "Not Found")

    def _split_scope(self, path: str) -> tuple[tuple[str, str], str]:
        parts = path.split("/")
        # ["", "orgs", org, rest...] / ["", "repos", owner, repo, rest...]
        if len(parts) >= 3 and parts[1] == "orgs" and unquote(parts[2]).lower() == self.org.lower():
            return ("org", self.org), "/" + "/".join(parts[3:])
        if len(parts) >= 3 and parts[1] == "enterprises" and unquote(parts[2]) == self.enterprise:
            return ("enterprise", self.enterprise), "/" + "/".join(parts[3:])
        if (
            len(parts) >= 4
            and parts[1] == "repos"
            and unquote(parts[2]).lower() == self.org.lower()
            and parts[3]
        ):
            repo = f"{self.org}/{unquote(parts[3])}".lower()
            return ("repo", repo), "/" + "/".join(parts[4:])
        raise _ApiError(404, "Not Found")

    def _paginate(
        self,
        items: Sequence[Any],
        query: dict[str, str],
        path: str,
        *,
        default: int = 30,
        maximum: int = 100,
        max_results: int | None = None,
    ) -> tuple[list[Any], dict[str, str]]:
        per_page = min(_int_param(query, "per_page", default), maximum)
        page = _int_param(query, "page", 1)
        reachable = len(items) if max_results is None else min(len(items), max_results)
        last = max(1, math.ceil(reachable / per_page))
        start = (page - 1) * per_page
        chunk = list(items[start : min(start + per_page, reachable)])

        def link(number: int) -> str:
            params = {**query, "per_page": str(per_page), "page": str(number)}
            return f"<{self._base_url()}{path}?{urlencode(params)}>"

        links = []
        if page > 1:
            links.append(f'{link(min(page - 1, last))}; rel="prev"')
        if page < last:
            links.append(f'{link(page + 1)}; rel="next"')
            links.append(f'{link(last)}; rel="last"')
        if page > 1:
            links.append(f'{link(1)}; rel="first"')
        return chunk, ({"link": ", ".join(links)} if links else {})

    # ----- GitHub handlers (called under the lock) --------------------------------------------

    def _get_runner_record(self, scope: tuple[str, str], runner_id: str) -> dict[str, Any]:
        record = self._fleets.get(scope, {}).get(int(runner_id))
        if record is None:
            raise _ApiError(404, "Not Found")
        return record

    def _h_list_runners(self, scope, query, body) -> _Answer:
        fleet = self._fleets.get(scope, {})
        runners = [fleet[i] for i in sorted(fleet)]
        name = query.get("name")
        if name is not None:
            runners = [r for r in runners if r["name"] == name]
        path = _scope_path(scope) + "/actions/runners"
        chunk, headers = self._paginate(runners, query, path)
        return _Answer(200, {"total_count": len(runners), "runners": chunk}, headers)

    def _h_get_runner(self, scope, query, body, runner_id) -> _Answer:
        return _Answer(200, self._get_runner_record(scope, runner_id))

    def _h_delete_runner(self, scope, query, body, runner_id) -> _Answer:
        record = self._get_runner_record(scope, runner_id)
        if record["busy"]:
            message = f'Bad request - Runner "{record["name"]}" is still running a job"'
            raise _ApiError(422, message)
        del self._fleets[scope][record["id"]]
        return _Answer(204)

    def _h_registration_token(self, scope, query, body) -> _Answer:
        return _Answer(201, self._issue_runner_token("registration", scope))

    def _h_remove_token(self, scope, query, body) -> _Answer:
        return _Answer(201, self._issue_runner_token("remove", scope))

    def _h_deprecation(self, scope, query, body, version) -> _Answer:
        version = unquote(version)
        registration, runtime = self._deprecations.get(version, (None, None))
        return _Answer(
            200,
            {
                "runner_version": version,
                "registration_deprecates_at": registration,
                "runtime_deprecates_at": runtime,
            },
        )

    def _variable_store(self, scope: tuple[str, str]) -> dict[str, dict[str, Any]]:
        if scope[0] == "enterprise":
            raise _ApiError(404, "Not Found")
        return self._variables.setdefault(scope, {})

    def _variable_json(self, scope: tuple[str, str], record: dict[str, Any]) -> dict[str, Any]:
        data = {
            "name": record["name"],
            "value": record["value"],
            "created_at": _iso(record["created_at"]),
            "updated_at": _iso(record["updated_at"]),
        }
        if scope[0] == "org":
            data["visibility"] = record["visibility"]
            if record["visibility"] == "selected":
                data["selected_repositories_url"] = (
                    f"{self._base_url()}/orgs/{self.org}/actions/variables/"
                    f"{record['name']}/repositories"
                )
        return data

    def _h_list_variables(self, scope, query, body) -> _Answer:
        store = self._variable_store(scope)
        records = [self._variable_json(scope, store[n]) for n in sorted(store)]
        path = _scope_path(scope) + "/actions/variables"
        chunk, headers = self._paginate(records, query, path, default=10, maximum=30)
        return _Answer(200, {"total_count": len(records), "variables": chunk}, headers)

    def _h_get_variable(self, scope, query, body, name) -> _Answer:
        store = self._variable_store(scope)
        record = store.get(unquote(name).upper())
        if record is None:
            raise _ApiError(404, "Not Found")
        return _Answer(200, self._variable_json(scope, record))

    def _check_visibility(self, scope: tuple[str, str], body: Mapping[str, Any]) -> str | None:
        visibility = body.get("visibility")
        if scope[0] == "org" and visibility not in (None, "all", "private", "selected"):
            raise _ApiError(422, "Invalid visibility: use all, private or selected")
        return visibility

    def _h_create_variable(self, scope, query, body) -> _Answer:
        store = self._variable_store(scope)
        name, value = body.get("name"), body.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise _ApiError(422, 'Invalid request.\n\n"name" and "value" are required.')
        if not VARIABLE_NAME.fullmatch(name) or name.upper().startswith("GITHUB_"):
            raise _ApiError(422, f"Invalid variable name {name!r}")
        visibility = self._check_visibility(scope, body)
        if scope[0] == "org" and visibility is None:
            raise _ApiError(422, 'Invalid request.\n\n"visibility" is required.')
        key = name.upper()
        if key in store:
            raise _ApiError(409, "Already exists - Variable already exists")
        now = self._now()
        store[key] = {
            "name": key,
            "value": value,
            "created_at": now,
            "updated_at": now,
            "visibility": visibility or "all",
        }
        return _Answer(201, {})

    def _h_update_variable(self, scope, query, body, name) -> _Answer:
        store = self._variable_store(scope)
        key = unquote(name).upper()
        record = store.get(key)
        if record is None:
            raise _ApiError(404, "Not Found")
        visibility = self._check_visibility(scope, body)
        new_name = body.get("name")
        if new_name is not None:
            if not isinstance(new_name, str) or not VARIABLE_NAME.fullmatch(new_name):
                raise _ApiError(422, "Invalid variable name")
            if new_name.upper() != key and new_name.upper() in store:
                raise _ApiError(409, "Already exists - Variable already exists")
        if "value" in body:
            if not isinstance(body["value"], str):
                raise _ApiError(422, 'Invalid request.\n\n"value" must be a string.')
            record["value"] = body["value"]
        if visibility is not None:
            record["visibility"] = visibility
        if new_name is not None and new_name.upper() != key:
            record["name"] = new_name.upper()
            store[new_name.upper()] = store.pop(key)
        record["updated_at"] = self._now()
        return _Answer(204)

    def _h_delete_variable(self, scope, query, body, name) -> _Answer:
        store = self._variable_store(scope)
        if store.pop(unquote(name).upper(), None) is None:
            raise _ApiError(404, "Not Found")
        return _Answer(204)

    def _repo_only(self, scope: tuple[str, str]) -> str:
        if scope[0] != "repo":
            raise _ApiError(404, "Not Found")
        return scope[1]

    def _issue_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: v for k, v in issue.items() if not k.endswith("_at")},
            "labels": [self._label_json(n) for n in issue["labels"]],
            "comments": len(self._comments.get((issue["repo"], issue["number"]), [])),
            "created_at": _iso(issue["created_at"]),
            "updated_at": _iso(issue["updated_at"]),
            "closed_at": None if issue["closed_at"] is None else _iso(issue["closed_at"]),
        }

    def _label_json(self, name: str) -> dict[str, Any]:
        return {"id": self._label_id(name), "name": name, "color": "ededed", "default": False}

    def _h_create_issue(self, scope, query, body) -> _Answer:
        repo = self._repo_only(scope)
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
            )
        labels = body.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise _ApiError(422, "Validation Failed: labels must be a list of names")
        issues = self._issues.setdefault(repo, {})
        number = len(issues) + 1
        now = self._now()
        issue = {
            "id": self._next_issue_id,
            "number": number,
            "repo": repo,
            "title": title,
            "body": body.get("body"),
            "state": "open",
            "state_reason": None,
            "labels": list(dict.fromkeys(labels)),
            "user": {"login": "runnerdoc-bot", "type": "User"},
            "url": f"{self._base_url()}/repos/{repo}/issues/{number}",
            "html_url": f"https://github.com/{repo}/issues/{number}",
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        }
        self._next_issue_id += 1
        issues[number] = issue
        return _Answer(201, self._public_issue(issue))

    def _public_issue(self, issue: dict[str, Any]) -> dict[str, Any]:
        data = self._issue_json(issue)
        data.pop("repo")
        return data

    def _find_issue(self, repo: str, number: str) -> dict[str, Any]:
        issue = self._issues.get(repo, {}).get(int(number))
        if issue is None:
            raise _ApiError(404, "Not Found")
        return issue

    def _h_list_issues(self, scope, query, body) -> _Answer:
        repo = self._repo_only(scope)
        state = query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise _ApiError(422, "Validation Failed: state is open, closed or all")
        wanted = {x.strip().lower() for x in query.get("labels", "").split(",") if x.strip()}
        issues = sorted(
            self._issues.get(repo, {}).values(), key=lambda i: i["number"], reverse=True
        )
        chosen = [
            self._public_issue(i)
            for i in issues
            if (state == "all" or i["state"] == state)
            and wanted <= {label.lower() for label in i["labels"]}
        ]
        chunk, headers = self._paginate(chosen, query, f"/repos/{repo}/issues")
        return _Answer(200, chunk, headers)

    def _h_get_issue(self, scope, query, body, number) -> _Answer:
        return _Answer(200, self._public_issue(self._find_issue(self._repo_only(scope), number)))

    def _h_update_issue(self, scope, query, body, number) -> _Answer:
        issue = self._find_issue(self._repo_only(scope), number)
        state = body.get("state")
        if state is not None:
            if state not in ("open", "closed"):
                raise _ApiError(422, "Validation Failed: state is open or closed")
            if state != issue["state"]:
                issue["state"] = state
                issue["closed_at"] = self._now() if state == "closed" else None
                issue["state_reason"] = (
                    body.get("state_reason", "completed") if state == "closed" else "reopened"
                )
        for key in ("title", "body"):
            if key in body:
                issue[key] = body[key]
        if "labels" in body:
            issue["labels"] = [x if isinstance(x, str) else x.get("name") for x in body["labels"]]
        issue["updated_at"] = self._now()
        return _Answer(200, self._public_issue(issue))

    def _h_list_comments(self, scope, query, body, number) -> _Answer:
        repo = self._repo_only(scope)
        self._find_issue(repo, number)
        comments = self._comments.get((repo, int(number)), [])
        chunk, headers = self._paginate(comments, query, f"/repos/{repo}/issues/{number}/comments")
        return _Answer(200, chunk, headers)

    def _h_create_comment(self, scope, query, body, number) -> _Answer:
        repo = self._repo_only(scope)
        issue = self._find_issue(repo, number)
        text = body.get("body")
        if not isinstance(text, str) or not text:
            raise _ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
            )
        comment_id = self._next_comment_id
        self._next_comment_id += 1
        now = _iso(self._now())
        comment = {
            "id": comment_id,
            "body": text,
            "user": {"login": "runnerdoc-bot", "type": "User"},
            "html_url": f"{issue['html_url']}#issuecomment-{comment_id}",
            "issue_url": issue["url"],
            "created_at": now,
            "updated_at": now,
        }
        self._comments.setdefault((repo, issue["number"]), []).append(comment)
        issue["updated_at"] = self._now()
        return _Answer(201, comment)

    def _h_list_runs(self, scope, query, body) -> _Answer:
        repo = self._repo_only(scope)
        runs = [self._run_json(r) for r in self._runs.get(repo, {}).values()]
        status = query.get("status")
        if status:
            runs = [r for r in runs if status in (r["status"], r["conclusion"])]
        runs.sort(key=lambda r: r["id"], reverse=True)
        chunk, headers = self._paginate(
            runs, query, f"/repos/{repo}/actions/runs", max_results=1000
        )
        return _Answer(200, {"total_count": len(runs), "workflow_runs": chunk}, headers)

    def _h_get_run(self, scope, query, body, run_id) -> _Answer:
        run = self._runs.get(self._repo_only(scope), {}).get(int(run_id))
        if run is None:
            raise _ApiError(404, "Not Found")
        return _Answer(200, self._run_json(run))

    def _h_list_jobs(self, scope, query, body, run_id) -> _Answer:
        repo = self._repo_only(scope)
        if int(run_id) not in self._runs.get(repo, {}):
            raise _ApiError(404, "Not Found")
        jobs = [self._job_json(j) for j in self._jobs.values() if j["run_id"] == int(run_id)]
        path = f"/repos/{repo}/actions/runs/{run_id}/jobs"
        chunk, headers = self._paginate(jobs, query, path)
        return _Answer(200, {"total_count": len(jobs), "jobs": chunk}, headers)

    # ----- control API -------------------------------------------------------------------------

    def handle_control(self, method: str, target: str, raw_body: bytes) -> tuple[int, Any]:
        """Answer one /_sim/ request: (status, JSON value)."""
        path = urlsplit(target).path.removeprefix("/_sim").rstrip("/")
        try:
            body = json.loads(raw_body) if raw_body.strip() else {}
        except ValueError:
            return 400, {"message": "the body is not valid JSON"}
        if not isinstance(body, dict):
            return 400, {"message": "the body must be a JSON object"}
        try:
            return self._control(method, path, body)
        except RegistrationRefused as err:
            return 404, {"message": "Not Found", "reason": err.reason}
        except KeyError as err:
            return 404, {"message": f"no such thing: {err.args[0]!r}"}
        except (ValueError, TypeError) as err:
            status = 409 if "exists with the same name" in str(err) else 422
            return status, {"message": str(err)}

    def _control(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        runner_match = re.fullmatch(r"/runners/(\d+)", path)
        job_match = re.fullmatch(r"/jobs/(\d+)", path)
        if (method, path) == ("GET", "/state"):
            return 200, self.state()
        if (method, path) == ("GET", "/requests"):
            return 200, self.requests()
        if (method, path) == ("POST", "/faults"):
            kind = body.get("kind")
            if kind not in FAULT_KINDS:
                raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}")
            self._add_fault(
                _Fault(
                    kind,
                    body.get("count", 1),
                    body.get("path"),
                    status=int(body.get("status", 429 if kind == "rate-limited" else 502)),
                    retry_after=body.get("retry_after", 60 if kind == "rate-limited" else None),
                    delay=float(body.get("delay", 0.0)),
                )
            )
            return 201, {"faults": [f.as_json() for f in self._faults]}
        if (method, path) == ("DELETE", "/faults"):
            self.clear_faults()
            return 204, None
        if (method, path) == ("POST", "/rate-limit"):
            self.set_rate_limit(
                **{k: body[k] for k in ("limit", "used", "remaining", "reset_in") if k in body}
            )
            return 200, self.rate_limit()
        if (method, path) == ("POST", "/clock"):
            self.advance_clock(float(body.get("advance", 0)))
            return 200, {"now": self._now()}
        if (method, path) == ("POST", "/runners"):
            scope = body.pop("scope", None)
            return 201, self.add_runner(body, scope=scope)
        if runner_match and method == "PATCH":
            return 200, self.update_runner(int(runner_match[1]), **body)
        if runner_match and method == "DELETE":
            self.remove_runner(int(runner_match[1]))
            return 204, None
        if (method, path) == ("POST", "/register"):
            runner = self.register_runner(
                str(body.get("token", "")),
                str(body.get("name", "")),
                list(body.get("labels", [])),
                ephemeral=bool(body.get("ephemeral", False)),
                os=str(body.get("os", "Linux")),
                replace=bool(body.get("replace", False)),
            )
            return 201, runner
        if (method, path) == ("POST", "/unregister"):
            self.unregister_runner(str(body.get("token", "")), str(body.get("name", "")))
            return 204, None
        if (method, path) == ("POST", "/jobs"):
            return 201, self.add_queued_job(
                str(body["repo"]),
                list(body.get("labels", ["self-hosted", "Linux"])),
                name=str(body.get("name", "build")),
                workflow=str(body.get("workflow", "CI")),
                age_seconds=float(body.get("age_seconds", 0)),
                run_id=body.get("run_id"),
            )
        if job_match and method == "PATCH":
            return 200, self.update_job(int(job_match[1]), **body)
        if (method, path) == ("POST", "/deprecations"):
            self.deprecate_version(
                str(body["version"]),
                body.get("registration_deprecates_at"),
                body.get("runtime_deprecates_at"),
            )
            return 201, {"version": body["version"]}
        return 404, {"message": f"no control endpoint {method} /_sim{path}"}


def _scope_path(scope: tuple[str, str]) -> str:
    kind, name = scope
    return {"org": f"/orgs/{name}", "enterprise": f"/enterprises/{name}"}.get(
        kind, f"/repos/{name}"
    )


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False

    def opaque(tag: str) -> str:
        return tag.strip().removeprefix("W/")

    return any(t.strip() == "*" or opaque(t) == opaque(etag) for t in header.split(","))


_ROUTES: list[tuple[str, re.Pattern[str], Any]] = [
    (m, re.compile(p), h)
    for m, p, h in [
        ("GET", r"/actions/runners", GitHubSimulator._h_list_runners),
        ("GET", r"/actions/runners/(\d+)", GitHubSimulator._h_get_runner),
        ("DELETE", r"/actions/runners/(\d+)", GitHubSimulator._h_delete_runner),
        ("POST", r"/actions/runners/registration-token", GitHubSimulator._h_registration_token),
        ("POST", r"/actions/runners/remove-token", GitHubSimulator._h_remove_token),
        ("GET", r"/actions/runners/deprecations/([^/]+)", GitHubSimulator._h_deprecation),
        ("GET", r"/actions/variables", GitHubSimulator._h_list_variables),
        ("POST", r"/actions/variables", GitHubSimulator._h_create_variable),
        ("GET", r"/actions/variables/([^/]+)", GitHubSimulator._h_get_variable),
        ("PATCH", r"/actions/variables/([^/]+)", GitHubSimulator._h_update_variable),
        ("DELETE", r"/actions/variables/([^/]+)", GitHubSimulator._h_delete_variable),
        ("GET", r"/issues", GitHubSimulator._h_list_issues),
        ("POST", r"/issues", GitHubSimulator._h_create_issue),
        ("GET", r"/issues/(\d+)", GitHubSimulator._h_get_issue),
        ("PATCH", r"/issues/(\d+)", GitHubSimulator._h_update_issue),
        ("GET", r"/issues/(\d+)/comments", GitHubSimulator._h_list_comments),
        ("POST", r"/issues/(\d+)/comments", GitHubSimulator._h_create_comment),
        ("GET", r"/actions/runs", GitHubSimulator._h_list_runs),
        ("GET", r"/actions/runs/(\d+)", GitHubSimulator._h_get_run),
        ("GET", r"/actions/runs/(\d+)/jobs", GitHubSimulator._h_list_jobs),
    ]
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # stop() closes open connections itself; joining every keep-alive thread could hang.
    block_on_close = False

    def __init__(self, address, handler, sim: GitHubSimulator) -> None:
        self.sim = sim
        super().__init__(address, handler)

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (timeout, closed connection) is expected in fault tests.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        log.exception("GitHub simulator failed on a request from %s", client_address)


def _make_handler(sim: GitHubSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def version_string(self) -> str:
            return "GitHub.com"

        def setup(self) -> None:
            super().setup()
            with sim._lock:
                sim._connections.add(self.connection)

        def finish(self) -> None:
            with sim._lock:
                sim._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("github-sim %s", format % args)

        def _read_body(self) -> bytes:
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def _dispatch(self) -> None:
            raw = self._read_body()
            if self.path.startswith("/_sim/") or self.path == "/_sim":
                status, value = sim.handle_control(self.command, self.path, raw)
                body = b"" if value is None else _encode(value)
                headers = {"content-type": "application/json; charset=utf-8"} if body else {}
                self._send(status, headers, body)
                return
            sim._enter()
            headers_in = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, headers, body = sim.handle_api(self.command, self.path, headers_in, raw)
            except Exception:
                # A simulator bug must still answer, as GitHub's own 500 would.
                log.exception("GitHub simulator failed on %s %s", self.command, self.path)
                status, headers = 500, {"content-type": "application/json; charset=utf-8"}
                body = _encode(_error_body(500, "Server Error"))
            finally:
                sim._leave()
            sim._record(self.command, self.path, status, "if-none-match" in headers_in)
            self._send(status, headers, body)

        def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if status not in (204, 304):
                self.send_header("content-length", str(len(body)))
            self.end_headers()
            if body and status not in (204, 304) and not getattr(self, "head_only", False):
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            # Answered as the GET would be, headers only (curl -I).
            self.command, self.head_only = "GET", True
            try:
                self._dispatch()
            finally:
                self.command, self.head_only = "HEAD", False

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _dispatch

    return Handler


def load_fleet(path: Path) -> list[dict[str, Any]]:
    """Read a fleet file: a JSON list of runner objects in GitHub's shape."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"{path}: a fleet file is a JSON list of runner objects")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.github_sim",
        description="Serve a simulated GitHub REST API for the lab on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--org", default="acme")
    parser.add_argument("--enterprise", default="acme-enterprise")
    parser.add_argument(
        "--token",
        default=os.environ.get("RUNNERDOC_SIM_TOKEN"),
        help="the token clients must send (default: $RUNNERDOC_SIM_TOKEN)",
    )
    parser.add_argument("--rate-limit", type=int, default=5000, help="requests an hour")
    fleet = parser.add_mutually_exclusive_group()
    fleet.add_argument("--runners", type=int, metavar="N", help="generate N runners")
    fleet.add_argument("--fleet", type=Path, metavar="FILE", help="JSON list of runners")
    parser.add_argument("--seed", type=int, default=0, help="seed for --runners")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give --token or set RUNNERDOC_SIM_TOKEN")
    try:
        runners = (
            load_fleet(args.fleet)
            if args.fleet
            else generate_fleet(args.runners or 0, seed=args.seed)
        )
        sim = GitHubSimulator(
            args.host,
            args.port,
            args.org,
            args.token,
            runners,
            enterprise=args.enterprise,
            rate_limit=args.rate_limit,
        )
    except (OSError, ValueError) as err:
        parser.error(f"cannot load the fleet: {err}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sim.start()
    print(f"GitHub simulator for {args.org} listening on {sim.url}", flush=True)
    try:
        stop.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
