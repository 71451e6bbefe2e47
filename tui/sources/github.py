"""GitHub REST client for a runner fleet: lists runners with conditional requests (an unchanged
fleet costs no rate limit), retries what is worth retrying, and wraps runner tokens, Actions
variables, issues and queued jobs. Async, httpx only; it never imports Textual.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from tui.model import RateLimit, Runner

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
RUNNERS_PER_PAGE = 100  # GitHub's maximum for runner lists
SCOPE_KINDS = ("org", "repo", "enterprise")
# GitHub account, repository and enterprise names: letters, digits, '-', '_' and '.'.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What an HTTP header value may carry; anything else could never authenticate anyway.
_HEADER_SAFE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^";]+)"?')
_MAX_PAGES = 10_000  # 1,000,000 runners: far past any fleet, short of a Link loop forever
_ETAG_CACHE_SIZE = 4096

ScopeKind = Literal["org", "repo", "enterprise"]
TokenProvider = Callable[[], "str | Awaitable[str]"]
Sleep = Callable[[float], Awaitable[None]]


def _optional_time(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# ----- errors ---------------------------------------------------------------------------------


class GitHubError(Exception):
    """Something went wrong talking to GitHub. The message is one line and never holds a token."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(GitHubError):
    """The token is missing, wrong, expired, or lacks the permission for this request."""


class NotFound(GitHubError):
    """GitHub answered 404: the thing does not exist, or the token may not see it."""


class Rejected(GitHubError):
    """GitHub refused the request as asked (400, 409 or 422)."""


class RunnerBusy(Rejected):
    """A runner cannot be deleted while it runs a job."""


class RateLimited(GitHubError):
    """GitHub's rate limit stopped us for longer than we are willing to wait."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reset_at: datetime | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.reset_at = reset_at
        self.retry_after = retry_after


class GitHubUnavailable(GitHubError):
    """GitHub could not be reached, kept failing (5xx, timeouts), or answered garbage."""


# ----- plain values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Where runners are registered: an organisation, one repository, or an enterprise.

    `name` is "org", "owner/repo" or the enterprise slug.
    """

    kind: ScopeKind
    name: str

    def __post_init__(self) -> None:
        if self.kind not in SCOPE_KINDS:
            raise ValueError(f"scope kind must be one of {', '.join(SCOPE_KINDS)}")
        parts = self.name.split("/")
        if len(parts) != (2 if self.kind == "repo" else 1) or not all(
            _NAME.fullmatch(p) for p in parts
        ):
            shape = "OWNER/REPO" if self.kind == "repo" else "a GitHub name"
            raise ValueError(f"a {self.kind} scope needs {shape}, e.g. acme or acme/api")

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Read "org:acme", "repo:acme/api" or "enterprise:acme" (the config file's spelling)."""
        kind, sep, name = text.partition(":")
        if not sep:
            raise ValueError("a scope reads org:NAME, repo:OWNER/REPO or enterprise:NAME")
        return cls(kind, name)  # type: ignore[arg-type]

    @property
    def base_path(self) -> str:
        quoted = "/".join(quote(p, safe="") for p in self.name.split("/"))
        prefix = {"org": "/orgs", "repo": "/repos", "enterprise": "/enterprises"}[self.kind]
        return f"{prefix}/{quoted}"

    @property
    def runners_path(self) -> str:
        return f"{self.base_path}/actions/runners"

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class RunnerToken:
    """A registration or remove token for config.sh; valid for one hour. Never shown in repr."""

    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class RunnerDeprecation:
    version: str
    registration_deprecates_at: float | None  # epoch seconds
    runtime_deprecates_at: float | None

    def deprecated(self, now: float) -> bool:
        """True once GitHub no longer lets this version run jobs."""
        return self.runtime_deprecates_at is not None and now >= self.runtime_deprecates_at


@dataclass(frozen=True)
class Variable:
    name: str
    value: str
    updated_at: datetime | None = None
    visibility: str | None = None  # organisation variables only


@dataclass(frozen=True)
class Issue:
    number: int
    title: str
    state: str
    labels: tuple[str, ...]
    html_url: str
    body: str | None = None


@dataclass(frozen=True)
class QueuedJob:
    """A job waiting for a runner whose labels match `labels` (all of them)."""

    repository: str
    run_id: int
    job_id: int
    name: str
    workflow: str
    labels: tuple[str, ...]
    created_at: datetime
    html_url: str | None = None


@dataclass(frozen=True)
class _Page:
    items: tuple[Any, ...]
    next_url: str | None
    etag: str | None


class _BadShape(ValueError):
    """An answer that is valid JSON but not in the shape GitHub documents."""


# ----- parsing --------------------------------------------------------------------------------


def _need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = obj.get(key)
    # bool is an int in Python; GitHub never sends true/false for a number.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _BadShape(f"{what} has no valid {key!r}")
    return value


def _optional(obj: Mapping[str, Any], key: str, kind: type, default: Any, what: str) -> Any:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _BadShape(f"{what} has an invalid {key!r}")
    return value


def _timestamp(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise _BadShape(f"{what} has no timestamp")
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise _BadShape(f"{what} has an unreadable timestamp") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def parse_runner(obj: Any) -> Runner:
    """Turn one runner object of GitHub's answer into a `Runner`; _BadShape when it is not one."""
    if not isinstance(obj, dict):
        raise _BadShape("a runner entry is not an object")
    what = "a runner"
    labels = _need(obj, "labels", list, what)
    names, kinds = [], []
    for label in labels:
        if not isinstance(label, dict):
            raise _BadShape("a runner label is not an object")
        names.append(_need(label, "name", str, "a runner label"))
        kinds.append(_optional(label, "type", str, "custom", "a runner label"))
    return Runner(
        id=_need(obj, "id", int, what),
        name=_need(obj, "name", str, what),
        os=_need(obj, "os", str, what),
        status=_need(obj, "status", str, what),
        busy=_need(obj, "busy", bool, what),
        labels=tuple(names),
        label_types=tuple(kinds),
        ephemeral=bool(_optional(obj, "ephemeral", bool, False, what)),
        version=_optional(obj, "version", str, None, what),
        group_id=_optional(obj, "runner_group_id", int, None, what),
    )


def _parse_runner_page(data: Any) -> tuple[Runner, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("runners"), list):
        raise _BadShape("the answer has no 'runners' list")
    return tuple(parse_runner(r) for r in data["runners"])


def _parse_issue(obj: Any) -> Issue:
    if not isinstance(obj, dict):
        raise _BadShape("an issue is not an object")
    labels = []
    for label in obj.get("labels") or []:
        # GitHub sends label objects; older answers and some tools send bare names.
        labels.append(label if isinstance(label, str) else _need(label, "name", str, "a label"))
    return Issue(
        number=_need(obj, "number", int, "an issue"),
        title=_need(obj, "title", str, "an issue"),
        state=_need(obj, "state", str, "an issue"),
        labels=tuple(labels),
        html_url=_need(obj, "html_url", str, "an issue"),
        body=_optional(obj, "body", str, None, "an issue"),
    )


def _parse_issue_page(data: Any) -> tuple[Issue, ...]:
    if not isinstance(data, list):
        raise _BadShape("the answer is not a list of issues")
    # The issues endpoint also lists pull requests; they carry a "pull_request" key.
    return tuple(_parse_issue(i) for i in data if not (isinstance(i, dict) and "pull_request" in i))


def _parse_variable(obj: Any) -> Variable:
    if not isinstance(obj, dict):
        raise _BadShape("a variable is not an object")
    updated = obj.get("updated_at")
    return Variable(
        name=_need(obj, "name", str, "a variable"),
        value=_need(obj, "value", str, "a variable"),
        updated_at=None if updated is None else _timestamp(updated, "a variable"),
        visibility=_optional(obj, "visibility", str, None, "a variable"),
    )


def _parse_runner_token(obj: Any) -> RunnerToken:
    if not isinstance(obj, dict):
        raise _BadShape("the token answer is not an object")
    return RunnerToken(
        token=_need(obj, "token", str, "the token answer"),
        expires_at=_timestamp(obj.get("expires_at"), "the token answer"),
    )


def _parse_comment_url(obj: Any) -> str:
    if not isinstance(obj, dict):
        raise _BadShape("the comment answer is not an object")
    return _need(obj, "html_url", str, "a comment")


def _parse_run_ids(data: Any) -> tuple[int, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("workflow_runs"), list):
        raise _BadShape("the answer has no 'workflow_runs' list")
    runs = data["workflow_runs"]
    return tuple(_need(r, "id", int, "a workflow run") for r in runs if isinstance(r, dict))


def _queued_job_parser(repo: str) -> Callable[[Any], tuple[QueuedJob, ...]]:
    def parse(data: Any) -> tuple[QueuedJob, ...]:
        if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
            raise _BadShape("the answer has no 'jobs' list")
        jobs = []
        for job in data["jobs"]:
            if not isinstance(job, dict):
                raise _BadShape("a job is not an object")
            # Waiting for a runner: queued and not yet given one.
            if job.get("status") != "queued" or job.get("runner_id") is not None:
                continue
            labels = _need(job, "labels", list, "a job")
            jobs.append(
                QueuedJob(
                    repository=repo,
                    run_id=_need(job, "run_id", int, "a job"),
                    job_id=_need(job, "id", int, "a job"),
                    name=_need(job, "name", str, "a job"),
                    workflow=_optional(job, "workflow_name", str, "", "a job") or "",
                    labels=tuple(x for x in labels if isinstance(x, str)),
                    created_at=_timestamp(job.get("created_at"), "a job"),
                    html_url=_optional(job, "html_url", str, None, "a job"),
                )
            )
        return tuple(jobs)

    return parse


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    for url, rels in _LINK.findall(header):
        if "next" in rels.split():
            return url
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _repo_path(repo: str) -> str:
    parts = repo.split("/")
    if len(parts) != 2 or not all(_NAME.fullmatch(p) for p in parts):
        raise ValueError("a repository is named OWNER/REPO, e.g. acme/api")
    return "/repos/" + "/".join(quote(p, safe="") for p in parts)


# ----- the client -----------------------------------------------------------------------------


class GitHubClient:
    """Talks to GitHub's REST API for one scope of runners.

    `token_provider` is called before every request (so GitHub App tokens can rotate) and may
    return a string or an awaitable of one. Waits go through `sleep`, so tests need not wait.
    Rate-limit waits longer than `max_rate_limit_wait` seconds raise `RateLimited` instead.
    """

    def __init__(
        self,
        api_url: str,
        token_provider: TokenProvider,
        scope: Scope,
        *,
        timeout: float = 10.0,
        max_retries: int = 4,
        max_in_flight: int = 4,
        max_rate_limit_wait: float = 300.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        if urlsplit(self.api_url).scheme not in ("http", "https"):
            raise ValueError("the GitHub API URL must start with https:// (or http:// for a lab)")
        self.scope = scope
        self._token_provider = token_provider
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_in_flight = max_in_flight
        self._max_rate_limit_wait = max_rate_limit_wait
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not a secret
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pages: OrderedDict[str, _Page] = OrderedDict()
        self._rate_limits: dict[str, RateLimit] = {}
        self._latest_rate_limit: RateLimit | None = None
        # Tokens handed to us, kept only to scrub them from any text we pass on.
        self._secrets: list[str] = []

    def __repr__(self) -> str:
        return f"GitHubClient({self.api_url!r}, scope={self.scope})"

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # ----- state the UI and the exporter read -------------------------------------------------

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate limit from GitHub's latest answer; None before the first request."""
        return self._latest_rate_limit

    @property
    def rate_limits(self) -> Mapping[str, RateLimit]:
        """The latest rate limit seen for each resource (core, search, ...)."""
        return dict(self._rate_limits)

    # ----- runners ----------------------------------------------------------------------------

    async def list_runners(self, name: str | None = None) -> list[Runner]:
        """Every runner of the scope (or those called `name`), following GitHub's pages."""
        url = f"{self.api_url}{self.scope.runners_path}?per_page={RUNNERS_PER_PAGE}"
        if name is not None:
            url += f"&name={quote(name, safe='')}"
        runners = await self._get_all(url, _parse_runner_page)
        # A runner can move between pages while we read them; report it once.
        return list({r.id: r for r in runners}.values())

    async def get_runner(self, runner_id: int) -> Runner:
        url = f"{self.api_url}{self.scope.runners_path}/{int(runner_id)}"
        page = await self._get_page(url, lambda data: (parse_runner(data),))
        return page.items[0]

    async def delete_runner(self, runner_id: int) -> None:
        url = f"{self.api_url}{self.scope.runners_path}/{int(runner_id)}"
        try:
            await self._request("DELETE", url)
        except Rejected as err:
            if err.status == 422:
                raise RunnerBusy(
                    f"GitHub will not delete runner {int(runner_id)} while it runs a job (422)",
                    status=422,
                ) from None
            raise

    async def registration_token(self) -> RunnerToken:
        """A one-hour token for `config.sh --token` (registering a runner)."""
        return await self._runner_token("registration-token")

    async def remove_token(self) -> RunnerToken:
        """A one-hour token for `config.sh remove --token`."""
        return await self._runner_token("remove-token")

    async def _runner_token(self, kind: str) -> RunnerToken:
        url = f"{self.api_url}{self.scope.runners_path}/{kind}"
        # A second token does no harm, so a failed attempt may be repeated.
        response = await self._request("POST", url, idempotent=True)
        return self._parse(response, url, _parse_runner_token)

    async def runner_deprecation(self, version: str) -> RunnerDeprecation:
        """When GitHub stops registering and running this runner version (None: not planned)."""
        if not re.fullmatch(r"v?[0-9]+(\.[0-9]+){1,3}", version):
            raise ValueError(f"{version!r} is not a runner version")
        url = f"{self.api_url}{self.scope.runners_path}/deprecations/{quote(version, safe='')}"

        def parse(data: Any) -> tuple[RunnerDeprecation]:
            if not isinstance(data, dict):
                raise _BadShape("the answer is not an object")
            return (
                RunnerDeprecation(
                    version=version,
                    registration_deprecates_at=_optional_time(
                        data.get("registration_deprecates_at")
                    ),
                    runtime_deprecates_at=_optional_time(data.get("runtime_deprecates_at")),
                ),
            )

        page = await self._get_page(url, parse)
        return page.items[0]

    # ----- Actions variables ------------------------------------------------------------------

    def _variables_url(self, repo: str | None, name: str | None = None) -> str:
        if repo is not None:
            base = _repo_path(repo)
        elif self.scope.kind == "enterprise":
            raise ValueError("enterprises have no Actions variables here; pass repo=OWNER/REPO")
        else:
            base = self.scope.base_path
        url = f"{self.api_url}{base}/actions/variables"
        if name is not None:
            if not _VARIABLE_NAME.fullmatch(name):
                raise ValueError(
                    "a variable name is letters, digits and _, not starting with a digit"
                )
            url += f"/{name}"
        return url

    def _org_variables(self, repo: str | None) -> bool:
        return repo is None and self.scope.kind == "org"

    async def get_variable(self, name: str, *, repo: str | None = None) -> Variable:
        """A variable of `repo`, or of the scope's organisation/repository; NotFound if unset."""
        url = self._variables_url(repo, name)
        response = await self._request("GET", url)
        return self._parse(response, url, _parse_variable)

    async def set_variable(
        self, name: str, value: str, *, repo: str | None = None, visibility: str | None = None
    ) -> None:
        """Make the variable hold `value`: update it, or create it when it does not exist.

        `visibility` (all, private, selected) applies to organisation variables; a new one
        defaults to all, an existing one keeps its own unless told.
        """
        url = self._variables_url(repo, name)
        change: dict[str, Any] = {"name": name, "value": value}
        if visibility is not None and self._org_variables(repo):
            change["visibility"] = visibility
        try:
            await self._request("PATCH", url, json_body=change)
            return
        except NotFound:
            pass
        create: dict[str, Any] = {"name": name, "value": value}
        if self._org_variables(repo):
            create["visibility"] = visibility or "all"
        await self._request("POST", self._variables_url(repo), json_body=create)

    async def delete_variable(self, name: str, *, repo: str | None = None) -> None:
        await self._request("DELETE", self._variables_url(repo, name))

    # ----- issues -----------------------------------------------------------------------------

    async def create_issue(
        self, repo: str, title: str, body: str = "", labels: Iterable[str] = ()
    ) -> Issue:
        url = f"{self.api_url}{_repo_path(repo)}/issues"
        payload = {"title": title, "body": body, "labels": list(labels)}
        response = await self._request("POST", url, json_body=payload)
        return self._parse(response, url, _parse_issue)

    async def list_issues(
        self, repo: str, *, state: str = "open", labels: Iterable[str] = ()
    ) -> list[Issue]:
        """Issues (not pull requests) in `state` (open, closed, all) carrying all `labels`."""
        if state not in ("open", "closed", "all"):
            raise ValueError("state is open, closed or all")
        url = f"{self.api_url}{_repo_path(repo)}/issues?state={state}&per_page=100"
        wanted = ",".join(labels)
        if wanted:
            url += f"&labels={quote(wanted, safe=',')}"
        return await self._get_all(url, _parse_issue_page)

    async def comment_issue(self, repo: str, number: int, body: str) -> str:
        """Add a comment; returns its web address."""
        url = f"{self.api_url}{_repo_path(repo)}/issues/{int(number)}/comments"
        response = await self._request("POST", url, json_body={"body": body})
        return self._parse(response, url, _parse_comment_url)

    async def list_comments(self, repo: str, number: int) -> list[str]:
        """Every comment's text on an issue, oldest first, across pages."""
        url = f"{self.api_url}{_repo_path(repo)}/issues/{int(number)}/comments?per_page=100"

        def parse(data: Any) -> tuple[str, ...]:
            if not isinstance(data, list):
                raise _BadShape("the answer is not a list of comments")
            return tuple(
                c["body"] for c in data if isinstance(c, dict) and isinstance(c.get("body"), str)
            )

        return await self._get_all(url, parse)

    async def close_issue(self, repo: str, number: int, *, reason: str = "completed") -> Issue:
        url = f"{self.api_url}{_repo_path(repo)}/issues/{int(number)}"
        payload = {"state": "closed", "state_reason": reason}
        response = await self._request("PATCH", url, json_body=payload)
        return self._parse(response, url, _parse_issue)

    # ----- queued jobs ------------------------------------------------------------------------

    async def queued_jobs(self, repos: Iterable[str]) -> list[QueuedJob]:
        """Jobs waiting for a runner in `repos`, oldest first.

        One request per repository for its queued runs, then one per queued run for its jobs;
        unchanged answers come back as 304 and cost nothing.
        """
        repo_list = list(dict.fromkeys(repos))
        for repo in repo_list:
            _repo_path(repo)  # refuse a bad name before any request goes out
        per_repo = await asyncio.gather(*(self._queued_jobs_of(repo) for repo in repo_list))
        jobs = [job for jobs in per_repo for job in jobs]
        return sorted(jobs, key=lambda j: (j.created_at, j.job_id))

    async def _queued_jobs_of(self, repo: str) -> list[QueuedJob]:
        base = f"{self.api_url}{_repo_path(repo)}/actions/runs"
        run_ids = await self._get_all(f"{base}?status=queued&per_page=100", _parse_run_ids)
        parse = _queued_job_parser(repo)
        per_run = await asyncio.gather(
            *(self._get_all(f"{base}/{run_id}/jobs?per_page=100", parse) for run_id in run_ids)
        )
        return [job for jobs in per_run for job in jobs]

    async def check_rate_limit(self) -> RateLimit:
        """Ask GitHub for the core rate limit (GET /rate_limit costs nothing)."""
        url = f"{self.api_url}/rate_limit"
        response = await self._request("GET", url)

        def parse(data: Any) -> RateLimit:
            resources = data.get("resources") if isinstance(data, dict) else None
            core = resources.get("core") if isinstance(resources, dict) else None
            if not isinstance(core, dict):
                raise _BadShape("the answer has no core rate limit")
            return RateLimit(
                limit=_need(core, "limit", int, "the core rate limit"),
                remaining=_need(core, "remaining", int, "the core rate limit"),
                used=_need(core, "used", int, "the core rate limit"),
                reset=_need(core, "reset", int, "the core rate limit"),
                resource="core",
            )

        return self._parse(response, url, parse)

    # ----- paging and caching -----------------------------------------------------------------

    async def _get_all(self, url: str, extract: Callable[[Any], tuple[Any, ...]]) -> list[Any]:
        items: list[Any] = []
        seen: set[str] = set()
        origin = _origin(self.api_url)
        next_url: str | None = url
        while next_url is not None:
            if next_url in seen or len(seen) >= _MAX_PAGES:
                raise GitHubUnavailable(
                    f"GitHub's page links for {_describe('GET', url)} go round in a circle"
                )
            if _origin(next_url) != origin:
                # Following it would hand our token to another host.
                raise GitHubUnavailable(
                    f"GitHub's next-page link for {_describe('GET', url)} points to another "
                    "host; not following it"
                )
            seen.add(next_url)
            page = await self._get_page(next_url, extract)
            items.extend(page.items)
            next_url = page.next_url
        return items

    async def _get_page(self, url: str, extract: Callable[[Any], tuple[Any, ...]]) -> _Page:
        cached = self._pages.get(url)
        response = await self._request("GET", url, etag=cached.etag if cached else None)
        if response.status_code == 304 and cached is not None:
            self._pages.move_to_end(url)
            return cached
        items = self._parse(response, url, extract)
        page = _Page(items, _next_link(response.headers.get("link")), response.headers.get("etag"))
        if page.etag:
            self._pages[url] = page
            self._pages.move_to_end(url)
            while len(self._pages) > _ETAG_CACHE_SIZE:
                self._pages.popitem(last=False)
        else:
            self._pages.pop(url, None)
        return page

    def _parse(self, response: httpx.Response, url: str, extract: Callable[[Any], Any]) -> Any:
        what = _describe(response.request.method, url)
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise GitHubUnavailable(
                f"GitHub answered {what} with a body that is not valid JSON "
                f"({len(response.content)} bytes, truncated or corrupt)",
                status=response.status_code,
            ) from None
        try:
            return extract(data)
        except _BadShape as err:
            raise GitHubUnavailable(
                f"GitHub's answer to {what} is not in the documented shape: {err}",
                status=response.status_code,
            ) from None

    # ----- one request, with retries ----------------------------------------------------------

    def _ensure_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            # A client and a semaphore belong to one event loop; start afresh on a new one.
            self._loop = loop
            self._semaphore = asyncio.Semaphore(self._max_in_flight)
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout),
                # The semaphore bounds requests in flight; a pool bound as well would make
                # queued requests fail with PoolTimeout while they wait their turn.
                limits=httpx.Limits(max_keepalive_connections=self._max_in_flight),
                transport=self._transport,
                # httpx drops the Authorization header when a redirect leaves the host.
                follow_redirects=True,
            )
        return self._http

    async def _token(self) -> str:
        try:
            value = self._token_provider()
            if inspect.isawaitable(value):
                value = await value
        except Exception as err:
            raise AuthError(
                f"could not get a GitHub token: the token source failed ({type(err).__name__})"
            ) from None
        if not isinstance(value, str) or not value.strip():
            raise AuthError("could not get a GitHub token: the token source gave an empty one")
        token = value.strip()
        if token not in self._secrets:
            self._secrets = [*self._secrets[-7:], token]
        if not _HEADER_SAFE.fullmatch(token):
            raise AuthError(
                "the GitHub token has characters that cannot travel in an HTTP header "
                "(only printable ASCII); check how it was copied"
            )
        return token

    def _clean(self, text: str, limit: int = 200) -> str:
        """One line of untrusted text, scrubbed of tokens and terminal control characters."""
        for secret in self._secrets:
            if len(secret) >= 6:
                text = text.replace(secret, "***")
        text = _CONTROL.sub(" ", text)
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def _note_rate_limit(self, headers: httpx.Headers) -> None:
        try:
            seen = RateLimit(
                limit=int(headers["x-ratelimit-limit"]),
                remaining=int(headers["x-ratelimit-remaining"]),
                used=int(headers.get("x-ratelimit-used", "0")),
                reset=int(headers["x-ratelimit-reset"]),
                resource=headers.get("x-ratelimit-resource", "core"),
            )
        except (KeyError, ValueError):
            return
        self._rate_limits[seen.resource] = seen
        self._latest_rate_limit = seen

    def _backoff(self, attempt: int) -> float:
        delay = min(self._backoff_cap, self._backoff_base * 2**attempt)
        return delay * (0.5 + self._rng.random() / 2)

    def _retry_after(self, headers: httpx.Headers) -> float | None:
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - self._clock())
        except (TypeError, ValueError):
            return None

    def _message(self, response: httpx.Response) -> str:
        try:
            data = json.loads(response.content)
            message = data.get("message") if isinstance(data, dict) else None
        except (ValueError, UnicodeDecodeError):
            message = None
        return self._clean(message) if isinstance(message, str) else response.reason_phrase

    def _is_rate_limited(self, response: httpx.Response) -> bool:
        if response.status_code == 429:
            return True
        if response.status_code != 403:
            return False
        return (
            response.headers.get("x-ratelimit-remaining") == "0"
            or "retry-after" in response.headers
            or "rate limit" in self._message(response).lower()
        )

    def _rate_limit_wait(self, response: httpx.Response, waits: int) -> tuple[float, str]:
        retry_after = self._retry_after(response.headers)
        if retry_after is not None:
            return retry_after, f"GitHub asked to wait {retry_after:g} s"
        reset = response.headers.get("x-ratelimit-reset", "")
        if response.headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
            # One second more: the reset second itself may still belong to the old window.
            wait = max(0.0, int(reset) - self._clock()) + 1
            until = datetime.fromtimestamp(int(reset), UTC).strftime("%H:%M:%S UTC")
            return wait, f"the rate limit is spent until {until}"
        # A secondary limit without advice: at least a minute, then back off exponentially.
        wait = 60.0 * 2**waits * (1 + self._rng.random() / 4)
        return wait, "GitHub's secondary rate limit stopped us"

    async def _request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        etag: str | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request, retrying 5xx answers, network errors and rate limits.

        Returns a 2xx answer, or a 304 when `etag` was sent; raises a GitHubError otherwise.
        A POST is repeated only when it surely never reached GitHub (or was rate-limited),
        so an issue is never filed twice.
        """
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "PATCH", "DELETE")
        what = _describe(method, url)
        attempt = 0
        rate_limit_waits = 0
        while True:
            headers = {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "runnerdoc",
                "Authorization": f"Bearer {await self._token()}",
            }
            if etag:
                headers["If-None-Match"] = etag
            client = self._ensure_client()
            assert self._semaphore is not None
            retry_after: float | None = None
            try:
                async with self._semaphore:
                    response = await client.request(method, url, headers=headers, json=json_body)
            except httpx.TimeoutException as err:
                reached = not isinstance(err, httpx.ConnectTimeout | httpx.PoolTimeout)
                problem = f"GitHub did not answer {what} within {self._timeout:g} s"
                retryable = idempotent or not reached
            except httpx.TransportError as err:
                reached = not isinstance(err, httpx.ConnectError)
                detail = self._clean(str(err)) or type(err).__name__
                problem = f"cannot reach GitHub for {what}: {detail}"
                retryable = idempotent or not reached
            else:
                self._note_rate_limit(response.headers)
                status = response.status_code
                log.debug("%s -> %s", what, status)
                if 200 <= status < 300 or (status == 304 and etag):
                    return response
                if self._is_rate_limited(response):
                    wait, why = self._rate_limit_wait(response, rate_limit_waits)
                    if attempt >= self._max_retries or wait > self._max_rate_limit_wait:
                        raise self._rate_limited(response, what, why)
                    log.warning("%s for %s; waiting %.0f s", why, what, wait)
                    await self._sleep(wait)
                    attempt += 1
                    rate_limit_waits += 1
                    continue
                if status < 500:
                    raise self._error_for(response, what)
                problem = f"GitHub answered {what} with {status} {response.reason_phrase}"
                retryable = idempotent
                retry_after = self._retry_after(response.headers)
            if not retryable or attempt >= self._max_retries:
                tries = f" (tried {attempt + 1} times)" if attempt else ""
                raise GitHubUnavailable(problem + tries)
            delay = max(self._backoff(attempt), retry_after or 0.0)
            if delay > self._max_rate_limit_wait:
                raise GitHubUnavailable(f"{problem}; GitHub asked to wait {delay:.0f} s")
            log.warning(
                "%s; retrying in %.1f s (attempt %d of %d)",
                problem,
                delay,
                attempt + 2,
                self._max_retries + 1,
            )
            await self._sleep(delay)
            attempt += 1

    def _rate_limited(self, response: httpx.Response, what: str, why: str) -> RateLimited:
        reset = response.headers.get("x-ratelimit-reset", "")
        reset_at = datetime.fromtimestamp(int(reset), UTC) if reset.isdigit() else None
        retry_after = self._retry_after(response.headers)
        when = f"; try again after {reset_at:%H:%M:%S} UTC" if reset_at else ""
        return RateLimited(
            f"rate-limited on {what} ({response.status_code}): {why}{when}",
            status=response.status_code,
            reset_at=reset_at,
            retry_after=retry_after,
        )

    def _error_for(self, response: httpx.Response, what: str) -> GitHubError:
        status = response.status_code
        message = self._message(response)
        if status == 401:
            return AuthError(
                f"GitHub refused the token for {what} (401 {message}): "
                "check that it is valid and not expired",
                status=status,
            )
        if status == 403:
            return AuthError(
                f"GitHub denied {what} (403 {message}): the token lacks the permission "
                "for this scope",
                status=status,
            )
        if status == 404:
            return NotFound(
                f"GitHub has no {what} (404): it does not exist or the token cannot see it",
                status=status,
            )
        if status in (400, 409, 422):
            return Rejected(f"GitHub rejected {what} ({status} {message})", status=status)
        return GitHubError(f"GitHub answered {what} with {status} {message}", status=status)


def _describe(method: str, url: str) -> str:
    """Say which request failed, e.g. `GET /orgs/acme/actions/runners`; never the query."""
    return f"{method} {urlsplit(url).path or '/'}"
