"""Automatic failover of a runner pool: while the pool is short of online runners, an Actions
variable sends its workflows' jobs to fallback labels; when it is healthy again the variable
goes. Every switch is logged, optionally posted to Slack, and kept in a state file the TUI reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tui.config import ConfigError, Settings
from tui.model import Runner, pool_of
from tui.pipeline.config_tables import table_reader
from tui.pipeline.failover_policy import (
    Decision,
    FailoverPolicy,
    FailoverState,
    Mode,
    PoolReading,
    Switch,
    decide,
    reading_of,
)
from tui.pipeline.slack import SlackError, SlackMessage, SlackWebhook, escape
from tui.sources.github import GitHubClient, GitHubError, NotFound, Scope
from tui.text import one_line

log = logging.getLogger("runnerdoc.failover")

DEFAULT_VARIABLE = "CI_RUNNER"
DEFAULT_FALLBACK = ("ubuntu-latest",)
HISTORY = 20  # switches kept in the state file
RETRY_SECONDS = 30.0  # after a switch that GitHub refused
HEARTBEAT_SECONDS = 30.0  # rewrite an unchanged state file this often, so the TUI sees it is alive
KNOWN_KEYS = (
    "pool", "min_online", "for_seconds", "recover_seconds", "variable", "fallback_labels",
    "scope", "repository", "org", "state_file", "interval", "listen", "slack_webhook_file",
    "webhook_token_file",
)  # fmt: skip


@dataclass(frozen=True)
class FailoverConfig:
    pool: str
    policy: FailoverPolicy
    variable: str
    fallback_labels: tuple[str, ...]
    variable_scope: Scope  # where the variable lives: an organisation or a repository
    state_file: Path
    interval: float = 30.0
    listen: str = "127.0.0.1:9099"
    slack_webhook_file: Path | None = None
    webhook_token_file: Path | None = None

    @property
    def fallback_value(self) -> str:
        """The variable's value: JSON, as `fromJSON(vars.CI_RUNNER)` reads it."""
        return json.dumps(list(self.fallback_labels))

    @property
    def target(self) -> str:
        return f"{self.variable_scope.kind} {self.variable_scope.name}"


def default_state_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_STATE_HOME") or "~/.local/state"
    return Path(base).expanduser() / "runnerdoc" / "failover.json"


def _labels(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError(
                f'{where}: fallback_labels is not JSON, e.g. ["ubuntu-latest"]'
            ) from None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise ConfigError(f"{where}: fallback_labels must be a non-empty list of label names")
    return tuple(value)


def load_failover_config(
    settings: Settings, overrides: Mapping[str, Any] | None = None
) -> FailoverConfig:
    """The [failover] table, with command-line values in `overrides` winning."""
    reader = table_reader(settings, "failover", KNOWN_KEYS, overrides)
    where = reader.where
    pool = reader.text("pool", None)
    if pool is None:
        raise ConfigError(f'{where}: say which pool to watch: pool = "pool-a" (or --pool)')
    try:
        policy = FailoverPolicy(
            min_online=reader.integer("min_online", 1),
            for_seconds=reader.number("for_seconds", 300.0) or 0.0,
            recover_seconds=reader.number("recover_seconds", 600.0) or 0.0,
        )
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None
    scope_kind = reader.text("scope", None)
    base = settings.scope
    if scope_kind is None:
        scope_kind = base.kind if base is not None and base.kind in ("org", "repo") else None
    if scope_kind == "repo":
        name = reader.text("repository", None) or (
            base.name if base is not None and base.kind == "repo" else None
        )
        if name is None:
            raise ConfigError(f'{where}: scope = "repo" needs repository = "OWNER/NAME"')
    elif scope_kind == "org":
        name = reader.text("org", None) or (
            base.name if base is not None and base.kind == "org" else None
        )
        if name is None:
            raise ConfigError(f'{where}: scope = "org" needs org = "NAME" (or --org)')
    else:
        raise ConfigError(
            f'{where}: scope is "org" or "repo": where the {DEFAULT_VARIABLE} variable lives'
        )
    try:
        variable_scope = Scope(scope_kind, name)  # type: ignore[arg-type]
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None
    state = reader.text("state_file", None)
    slack = reader.text("slack_webhook_file", None)
    token = reader.text("webhook_token_file", None)
    interval = reader.number("interval", 30.0)
    if interval is None or interval < 1:
        raise ConfigError(f"{where}: interval must be at least 1 second")
    return FailoverConfig(
        pool=pool,
        policy=policy,
        variable=reader.text("variable", DEFAULT_VARIABLE) or DEFAULT_VARIABLE,
        fallback_labels=_labels(reader.table.get("fallback_labels", list(DEFAULT_FALLBACK)), where),
        variable_scope=variable_scope,
        state_file=Path(state).expanduser() if state else default_state_file(),
        interval=interval,
        listen=reader.text("listen", "127.0.0.1:9099") or "127.0.0.1:9099",
        slack_webhook_file=Path(slack).expanduser() if slack else None,
        webhook_token_file=Path(token).expanduser() if token else None,
    )


# ----- the state file, and what the TUI shows -------------------------------------------------


@dataclass(frozen=True)
class SwitchRecord:
    switch: Switch
    at: float
    reason: str
    variable_value: str | None  # what the variable was set to; None when deleted


@dataclass(frozen=True)
class FailoverStatus:
    """The failover controller's view, as the TUI shows it."""

    pool: str
    mode: Mode
    variable: str
    target: str
    fallback_labels: tuple[str, ...]
    min_online: int
    online: int | None
    short_since: float | None
    healthy_since: float | None
    updated_at: float
    controller: str  # watch | serve
    history: tuple[SwitchRecord, ...] = ()
    firing: tuple[str, ...] = ()  # alerts that made `serve` count the pool short
    error: str | None = None  # the last switch GitHub refused, if it still stands

    @property
    def last_switch(self) -> SwitchRecord | None:
        return self.history[-1] if self.history else None

    def age(self, now: float) -> float:
        return max(0.0, now - self.updated_at)


def _status_from_json(data: Mapping[str, Any]) -> FailoverStatus:
    history = tuple(
        SwitchRecord(Switch(h["switch"]), float(h["at"]), str(h["reason"]), h.get("value"))
        for h in data.get("history", [])
    )
    return FailoverStatus(
        pool=str(data["pool"]),
        mode=Mode(data["mode"]),
        variable=str(data["variable"]),
        target=str(data["target"]),
        fallback_labels=tuple(data.get("fallback_labels", ())),
        min_online=int(data.get("min_online", 1)),
        online=data.get("online"),
        short_since=data.get("short_since"),
        healthy_since=data.get("healthy_since"),
        updated_at=float(data.get("updated_at", 0)),
        controller=str(data.get("controller", "")),
        history=history,
        firing=tuple(data.get("firing", {})),
        error=data.get("error"),
    )


def read_status(path: Path) -> FailoverStatus | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return _status_from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.debug("failover state %s unreadable: %s", path, type(e).__name__)
        return None


def failover_status(settings: Settings) -> FailoverStatus | None:
    """What failover is doing, from its state file; None when it never ran or is not set up.

    Cheap (one small file read) and never raises, so the TUI's refresh worker can call it.
    """
    try:
        path = table_reader(settings, "failover", KNOWN_KEYS).text("state_file", None)
    except ConfigError:
        return None
    return read_status(Path(path).expanduser() if path else default_state_file())


# ----- the controller -------------------------------------------------------------------------


class FailoverController:
    """Applies the policy's decisions to the Actions variable, once per switch."""

    def __init__(
        self,
        config: FailoverConfig,
        github: GitHubClient,
        *,
        controller: str,
        clock: Callable[[], float] = time.time,
        slack: SlackWebhook | None = None,
        dry_run: bool = False,
    ) -> None:
        self.config = config
        self.github = github
        self.controller = controller
        self.clock = clock
        self.slack = slack
        self.dry_run = dry_run
        self.state = FailoverState()
        self.history: list[SwitchRecord] = []
        self.firing: dict[str, dict[str, Any]] = {}
        self.error: str | None = None
        self._retry_at = 0.0
        self._saved: tuple[Any, ...] | None = None
        self._saved_at = 0.0

    # -- start-up ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Pick up where the last run left off; without a state file, ask the variable."""
        previous = None
        if self.config.state_file.exists():
            with contextlib.suppress(OSError, ValueError):
                previous = json.loads(self.config.state_file.read_text(encoding="utf-8"))
        if isinstance(previous, dict) and previous.get("pool") == self.config.pool:
            status = _status_from_json(previous)
            self.state = FailoverState(status.mode, status.short_since, status.healthy_since)
            self.history = list(status.history)
            self.firing = dict(previous.get("firing", {}))
            return
        try:
            current = await self.github.get_variable(self.config.variable, **self._where())
        except NotFound:
            return
        if current.value.strip() == self.config.fallback_value or _same_labels(
            current.value, self.config.fallback_labels
        ):
            self.state = FailoverState(Mode.FALLBACK)
            log.info(
                "failover: %s already holds the fallback labels; starting in fallback mode",
                self.config.variable,
            )
        else:
            log.warning(
                "failover: %s (%s) holds %s, which runnerdoc did not set; a fail-over will "
                "replace it",
                self.config.variable,
                self.config.target,
                one_line(current.value, limit=80),
            )

    # -- readings ------------------------------------------------------------------------------

    async def observe(self, reading: PoolReading) -> Switch | None:
        """Take one reading (or the same again on a timer tick); switch when it is time."""
        now = self.clock()
        decision = decide(self.state, reading, now, self.config.policy)
        if decision.switch is None or now < self._retry_at:
            self.state = replace(decision.state, mode=self.state.mode)
            self._save(now)
            return None
        done = await self._apply(decision)
        if done:
            self.state = decision.state
            self.error = None
        else:
            # Keep the timing, not the mode: the next reading tries the switch again.
            self.state = replace(decision.state, mode=self.state.mode)
            self._retry_at = now + RETRY_SECONDS
        self._save(now)
        return decision.switch if done else None

    def _where(self) -> dict[str, str]:
        scope = self.config.variable_scope
        return {"repo": scope.name} if scope.kind == "repo" else {}

    async def _apply(self, decision: Decision) -> bool:
        cfg = self.config
        switch = decision.switch
        value = cfg.fallback_value if switch is Switch.FAIL_OVER else None
        change = (
            f"set {cfg.variable} ({cfg.target}) to {value}"
            if value is not None
            else f"delete {cfg.variable} ({cfg.target})"
        )
        if self.dry_run:
            log.info("failover (dry run): pool %s: %s; would %s", cfg.pool, decision.reason, change)
            return True
        try:
            if value is not None:
                await self.github.set_variable(cfg.variable, value, **self._where())
            else:
                with contextlib.suppress(NotFound):  # already gone: the goal is met
                    await self.github.delete_variable(cfg.variable, **self._where())
        except (GitHubError, ValueError) as e:
            self.error = f"{switch.value} failed: {one_line(str(e))}"
            log.error("failover: pool %s: could not %s: %s", cfg.pool, change, one_line(str(e)))
            return False
        record = SwitchRecord(switch, self.clock(), decision.reason, value)
        self.history = [*self.history, record][-HISTORY:]
        log.info("failover: pool %s %s: %s; %s", cfg.pool, switch.value, decision.reason, change)
        await self._tell_slack(record)
        return True

    async def _tell_slack(self, record: SwitchRecord) -> None:
        if self.slack is None:
            return
        cfg = self.config
        if record.switch is Switch.FAIL_OVER:
            headline = (
                f"Runner pool {cfg.pool} is short: jobs go to {', '.join(cfg.fallback_labels)}"
            )
            change = f"`{escape(cfg.variable)}` set to `{escape(record.variable_value or '')}`"
        else:
            headline = f"Runner pool {cfg.pool} is healthy again: jobs come back"
            change = f"`{escape(cfg.variable)}` deleted"
        message = SlackMessage(text=headline).header(headline)
        message.section(
            f"{escape(record.reason)}\n{change} ({escape(cfg.target)}).\n"
            "Only jobs created after this switch move; queued jobs keep waiting for their labels."
        )
        message.context([f"runnerdoc failover {escape(self.controller)}"])
        try:
            await asyncio.to_thread(self.slack.post, message)
        except SlackError as e:
            log.error("failover: Slack message not posted: %s", one_line(str(e)))

    # -- the state file ------------------------------------------------------------------------

    def status(self, now: float | None = None) -> FailoverStatus:
        cfg, state = self.config, self.state
        return FailoverStatus(
            pool=cfg.pool,
            mode=state.mode,
            variable=cfg.variable,
            target=cfg.target,
            fallback_labels=cfg.fallback_labels,
            min_online=cfg.policy.min_online,
            online=state.last.online if state.last else None,
            short_since=state.short_since,
            healthy_since=state.healthy_since,
            updated_at=self.clock() if now is None else now,
            controller=self.controller,
            history=tuple(self.history),
            firing=tuple(self.firing),
            error=self.error,
        )

    def _save(self, now: float) -> None:
        if self.dry_run:
            return  # a dry run changes nothing, the state file included
        key = (self.state, tuple(self.history), tuple(sorted(self.firing)), self.error)
        if key == self._saved and now - self._saved_at < HEARTBEAT_SECONDS:
            return
        s = self.status(now)
        data = {
            "pool": s.pool,
            "mode": s.mode.value,
            "variable": s.variable,
            "target": s.target,
            "fallback_labels": list(s.fallback_labels),
            "min_online": s.min_online,
            "online": s.online,
            "short_since": s.short_since,
            "healthy_since": s.healthy_since,
            "updated_at": s.updated_at,
            "controller": s.controller,
            "history": [
                {
                    "switch": h.switch.value,
                    "at": h.at,
                    "reason": h.reason,
                    "value": h.variable_value,
                }
                for h in s.history
            ],
            "firing": self.firing,
            "error": s.error,
        }
        path = self.config.state_file
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(tmp, path)  # the TUI never reads half a file
        except OSError as e:
            log.error("failover: cannot write %s: %s", path, e.strerror)
            return
        self._saved, self._saved_at = key, now


def _same_labels(value: str, labels: tuple[str, ...]) -> bool:
    try:
        return json.loads(value) == list(labels)
    except ValueError:
        return False


# ----- the two ways to feed it ----------------------------------------------------------------


def pool_online(runners: list[Runner], pool: str) -> int:
    return sum(1 for r in runners if r.online and pool_of(r) == pool)


async def watch(
    controller: FailoverController,
    runners: GitHubClient,
    stop: asyncio.Event,
    *,
    once: bool = False,
) -> None:
    """Poll GitHub for the pool's runners every `interval` seconds and feed the controller.

    A failed poll is no reading: the pool is not declared short because GitHub is down.
    """
    cfg = controller.config
    while not stop.is_set():
        try:
            online = pool_online(await runners.list_runners(), cfg.pool)
        except GitHubError as e:
            log.warning("failover: cannot list runners: %s", one_line(str(e)))
        else:
            await controller.observe(reading_of(online, cfg.policy))
        if once:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), cfg.interval)
