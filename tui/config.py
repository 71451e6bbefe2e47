"""Settings: a TOML file plus the environment, with secrets kept out of every output.

Where the file is: `--config FILE`, else `$RUNNERDOC_CONFIG`, else
`$XDG_CONFIG_HOME/runnerdoc/config.toml` (default `~/.config/runnerdoc/config.toml`).
The GitHub token comes from `$GITHUB_TOKEN`, a `token` in a file only its owner can
read, `gh auth token`, or a GitHub App (app id + private key -> installation token).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_API_URL = "https://api.github.com"
SCOPE_KINDS = ("org", "repo", "enterprise")
_NAME = {
    "org": re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"),
    "repo": re.compile(r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}"),
    "enterprise": re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,99})"),
}


class ConfigError(Exception):
    """A setting that cannot be used; the message is one line and names where it came from."""


class Secret:
    """A value that must never be printed: str() and repr() say it is redacted."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('<redacted>')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class GitHubScope:
    """Whose runners: an organisation, a repository or an enterprise."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in SCOPE_KINDS:
            raise ConfigError(f"scope must be one of {', '.join(SCOPE_KINDS)}, not {self.kind!r}")
        if not _NAME[self.kind].fullmatch(self.name):
            raise ConfigError(f"{self.kind} name {self.name!r} is not a valid GitHub name")

    @property
    def api_path(self) -> str:
        """The REST path prefix, e.g. `orgs/acme` (the runbooks' `github_scope`)."""
        prefix = {"org": "orgs", "repo": "repos", "enterprise": "enterprises"}[self.kind]
        return f"{prefix}/{self.name}"

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class GitHubApp:
    app_id: str
    installation_id: str
    private_key_file: Path


DEFAULT_SSH_USER = "runner"  # when neither [ssh] user nor ~/.ssh/config names one


@dataclass(frozen=True)
class SSHSettings:
    # None: not set, so ~/.ssh/config decides, then DEFAULT_SSH_USER and port 22.
    user: str | None = None
    port: int | None = None
    identity_file: Path | None = None
    known_hosts: Path = field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    proxy_jump: str | None = None
    config_file: Path | None = field(default_factory=lambda: Path("~/.ssh/config").expanduser())
    connect_timeout: float = 10.0
    # runner name -> "host" or "host:port"; runners not listed are reached by name.
    hosts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    github_api_url: str = DEFAULT_API_URL
    github_url: str = "https://github.com"
    scope: GitHubScope | None = None
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    loki_url: str | None = None
    # Label on host metrics that holds the runner name; `instance` is tried next.
    host_label: str = "runner"
    read_only: bool = False
    refresh_seconds: float = 15.0
    ssh: SSHSettings = field(default_factory=SSHSettings)
    github_app: GitHubApp | None = None
    keys: Mapping[str, str] = field(default_factory=dict)
    theme: str = "runnerdoc-dark"
    # Repositories whose queued jobs the exporter and the TUI count (owner/name).
    queued_repos: tuple[str, ...] = ()
    # runner name -> its runner root, where it is not the runbooks' default (the lab).
    runner_roots: Mapping[str, str] = field(default_factory=dict)
    # Values for runbook parameters where this installation differs from the defaults
    # (the lab points release downloads and status pages at its simulators).
    runbook_parameters: Mapping[str, str] = field(default_factory=dict)
    source: Path | None = None  # the file these came from, for messages
    _token: Secret | None = field(default=None, repr=False)

    def token_provider(self) -> Callable[[], Secret]:
        """How to get a GitHub token now; raises ConfigError when there is none."""
        if self._token is not None:
            token = self._token
            return lambda: token
        if self.github_app is not None:
            return AppTokenProvider(self.github_app, self.github_api_url)
        gh = _gh_token()
        if gh is not None:
            return lambda: gh
        return _no_token


def _no_token() -> Secret:
    raise ConfigError(
        "no GitHub token: set GITHUB_TOKEN, put token in a 0600 config file, log in with"
        " `gh auth login`, or configure [github.app]"
    )


def config_path(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """The config file to read: explicit, else $RUNNERDOC_CONFIG, else the XDG path."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit).expanduser()
    if env.get("RUNNERDOC_CONFIG"):
        return Path(env["RUNNERDOC_CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or "~/.config"
    return Path(base).expanduser() / "runnerdoc" / "config.toml"


def lab_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder that holds the running lab's state and its runnerdoc config."""
    env = os.environ if env is None else env
    if env.get("RUNNERDOC_LAB_DIR"):
        return Path(env["RUNNERDOC_LAB_DIR"]).expanduser()
    base = env.get("XDG_STATE_HOME") or "~/.local/state"
    return Path(base).expanduser() / "runnerdoc" / "lab"


# What the environment may say about GitHub and the services, which --lab ignores: in a
# GitHub Actions job GITHUB_API_URL and GITHUB_TOKEN are GitHub's own, and the lab's runner
# names must never be sent there.
_LAB_IGNORES = re.compile(
    r"^(GITHUB_TOKEN|GITHUB_API_URL|GITHUB_SERVER_URL|RUNNERDOC_CONFIG|RUNNERDOC_[A-Z]+_URL)$"
)


def lab_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a --lab command: the lab's config.toml alone names its services."""
    given = os.environ if env is None else env
    return {k: v for k, v in given.items() if not _LAB_IGNORES.match(k)}


def lab_config_path(env: Mapping[str, str] | None = None) -> Path:
    path = lab_dir(env) / "config.toml"
    if not path.exists():
        raise ConfigError(f"no lab is running ({path} is missing): start one with runnerdoc lab up")
    return path


def _gh_token() -> Secret | None:
    """`gh auth token`, when the GitHub CLI is installed and logged in."""
    gh = shutil.which("gh")
    if gh is None:
        return None
    try:
        out = subprocess.run(
            [gh, "auth", "token"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = out.stdout.strip()
    return Secret(value) if out.returncode == 0 and value else None


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _string(table: Mapping[str, Any], key: str, where: str, section: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {section}.{key} must be a non-empty string")
    return value


def _url(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not re.match(r"https?://[^\s/]+", value):
        raise ConfigError(f"{what} {value!r} must be an http:// or https:// URL")
    return value.rstrip("/")


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    org: str | None = None,
    repo: str | None = None,
    enterprise: str | None = None,
    read_only: bool | None = None,
) -> Settings:
    """Settings from the file (if it exists), the environment and command-line choices.

    Precedence: command line over environment over file. A file given explicitly
    must exist; the default file may be absent.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("RUNNERDOC_CONFIG"))
    file = config_path(path, env)
    data: Mapping[str, Any] = {}
    where = str(file)
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{where}: not valid TOML: {e}") from None
        except OSError as e:
            raise ConfigError(f"{where}: cannot read: {e.strerror}") from None
    elif explicit:
        raise ConfigError(f"{where}: no such config file")

    gh = _table(data, "github", where)
    api_url = _url(
        env.get("GITHUB_API_URL") or _string(gh, "api_url", where, "github"), "GitHub API URL"
    )
    web_url = _url(
        env.get("GITHUB_SERVER_URL") or _string(gh, "url", where, "github"), "GitHub URL"
    )

    chosen = {k: v for k, v in (("org", org), ("repo", repo), ("enterprise", enterprise)) if v}
    if len(chosen) > 1:
        raise ConfigError("give only one of --org, --repo and --enterprise")
    if not chosen:
        chosen = {k: gh[k] for k in SCOPE_KINDS if k in gh}
        if len(chosen) > 1:
            raise ConfigError(f"{where}: [github] sets more than one of org, repo, enterprise")
    scope = None
    if chosen:
        ((kind, name),) = chosen.items()
        if not isinstance(name, str):
            raise ConfigError(f"{where}: github.{kind} must be a string")
        scope = GitHubScope(kind, name)

    token: Secret | None = None
    if env.get("GITHUB_TOKEN"):
        token = Secret(env["GITHUB_TOKEN"])
    elif "token" in gh:
        mode = file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{where}: holds a token but others can read it; run chmod 600 {file}"
            )
        value = gh["token"]
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: github.token must be a non-empty string")
        token = Secret(value)

    app = None
    app_table = _table(gh, "app", where) if "app" in gh else None
    if app_table:
        try:
            app = GitHubApp(
                app_id=str(app_table["app_id"]),
                installation_id=str(app_table["installation_id"]),
                private_key_file=Path(str(app_table["private_key_file"])).expanduser(),
            )
        except KeyError as e:
            raise ConfigError(f"{where}: [github.app] needs {e.args[0]}") from None

    ssh_t = _table(data, "ssh", where)
    hosts = ssh_t.get("hosts", {})
    if not isinstance(hosts, Mapping) or not all(isinstance(v, str) for v in hosts.values()):
        raise ConfigError(f"{where}: [ssh.hosts] maps runner names to host or host:port")
    try:
        port = int(ssh_t["port"]) if "port" in ssh_t else None
        timeout = float(ssh_t.get("connect_timeout", 10))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: ssh.port and ssh.connect_timeout must be numbers") from None
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{where}: ssh.port must be between 1 and 65535, not {port}")
    ssh = SSHSettings(
        user=_string(ssh_t, "user", where, "ssh"),
        port=port,
        identity_file=Path(ssh_t["identity_file"]).expanduser()
        if "identity_file" in ssh_t
        else None,
        known_hosts=Path(str(ssh_t.get("known_hosts", "~/.ssh/known_hosts"))).expanduser(),
        proxy_jump=_string(ssh_t, "proxy_jump", where, "ssh"),
        config_file=Path(str(ssh_t.get("config_file", "~/.ssh/config"))).expanduser(),
        connect_timeout=timeout,
        hosts=dict(hosts),
    )

    def service_url(name: str) -> str | None:
        table = _table(data, name, where)
        value = env.get(f"RUNNERDOC_{name.upper()}_URL") or _string(table, "url", where, name)
        return _url(value, f"{name} URL")

    ui = _table(data, "ui", where)
    keys = _table(data, "keys", where)
    if not all(isinstance(v, str) for v in keys.values()):
        raise ConfigError(f"{where}: [keys] maps actions to key names, as strings")
    file_read_only = data.get("read_only", False)
    if not isinstance(file_read_only, bool):
        raise ConfigError(f"{where}: read_only must be true or false")
    try:
        refresh = float(ui.get("refresh_seconds", 15))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: ui.refresh_seconds must be a number") from None
    if refresh < 1:
        raise ConfigError(f"{where}: ui.refresh_seconds must be at least 1")
    hosts_t = _table(data, "hosts", where)
    queued = gh.get("queued_repos", [])
    if not isinstance(queued, list) or not all(
        isinstance(r, str) and _NAME["repo"].fullmatch(r) for r in queued
    ):
        raise ConfigError(f"{where}: github.queued_repos must be a list of owner/name strings")
    lab_t = _table(data, "lab", where)
    roots = lab_t.get("runner_roots", {})
    if not isinstance(roots, Mapping) or not all(isinstance(v, str) for v in roots.values()):
        raise ConfigError(f"{where}: [lab.runner_roots] maps runner names to folders")
    params = _table(lab_t, "runbook_parameters", where) if "runbook_parameters" in lab_t else {}
    runbook_t = _table(data, "runbooks", where)
    params = {**params, **_table(runbook_t, "parameters", where)}
    if not all(isinstance(v, str) for v in params.values()):
        raise ConfigError(f"{where}: runbook parameters must be strings")
    return Settings(
        github_api_url=api_url or DEFAULT_API_URL,
        github_url=web_url or "https://github.com",
        scope=scope,
        prometheus_url=service_url("prometheus"),
        alertmanager_url=service_url("alertmanager"),
        loki_url=service_url("loki"),
        host_label=str(hosts_t.get("label", "runner")),
        read_only=bool(read_only) if read_only is not None else file_read_only,
        refresh_seconds=refresh,
        ssh=ssh,
        github_app=app,
        keys=dict(keys),
        theme=str(ui.get("theme", "runnerdoc-dark")),
        queued_repos=tuple(queued),
        runner_roots=dict(roots),
        runbook_parameters=dict(params),
        source=file if file.exists() else None,
        _token=token,
    )


class AppTokenProvider:
    """GitHub App auth: a short RS256 JWT exchanged for a one-hour installation token.

    The installation token is cached and renewed five minutes before it expires, so a
    long-running exporter or TUI never sends an expired one.
    """

    RENEW_BEFORE = 300

    def __init__(self, app: GitHubApp, api_url: str, clock: Callable[[], float] = time.time):
        self.app = app
        self.api_url = api_url.rstrip("/")
        self.clock = clock
        self._token: Secret | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def jwt(self) -> str:
        import jwt  # PyJWT

        try:
            key = self.app.private_key_file.read_bytes()
        except OSError as e:
            raise ConfigError(
                f"GitHub App private key {self.app.private_key_file}: {e.strerror}"
            ) from None
        now = int(self.clock())
        # iat 60 s in the past allows for clock drift; GitHub caps exp at 10 minutes.
        payload = {"iat": now - 60, "exp": now + 540, "iss": self.app.app_id}
        try:
            return jwt.encode(payload, key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as e:
            raise ConfigError(
                f"GitHub App private key {self.app.private_key_file} is not an RSA key: "
                f"{type(e).__name__}"
            ) from None

    def __call__(self) -> Secret:
        with self._lock:
            if self._token is not None and self.clock() < self._expires - self.RENEW_BEFORE:
                return self._token
            import httpx

            url = f"{self.api_url}/app/installations/{self.app.installation_id}/access_tokens"
            try:
                resp = httpx.post(
                    url,
                    headers={
                        "Authorization": f"Bearer {self.jwt()}",
                        "Accept": "application/vnd.github+json",
                        "X-GitHub-Api-Version": "2022-11-28",
                    },
                    timeout=15,
                )
            except httpx.HTTPError as e:
                raise ConfigError(f"GitHub App token exchange failed: {type(e).__name__}") from None
            if resp.status_code != 201:
                raise ConfigError(
                    f"GitHub App token exchange answered HTTP {resp.status_code} for "
                    f"installation {self.app.installation_id}"
                )
            body = resp.json()
            self._token = Secret(str(body["token"]))
            self._expires = _parse_time(str(body["expires_at"]))
            return self._token


def _parse_time(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
