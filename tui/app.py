"""The runnerdoc terminal UI: the app shell that refreshes the fleet and moves between screens.

Refreshes run in a worker and re-arm a one-shot timer when they finish, so two never
overlap and a slow source only delays the next one. Screens get each new snapshot
through a signal; they do their own on-demand queries in their own workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from textual.app import App
from textual.signal import Signal
from textual.timer import Timer
from textual.widgets import Input

from tui.config import Settings
from tui.keys import APP_KEYS, TYPED_ACTIONS, WRITE_ACTIONS, keymap
from tui.log_source import LogSource, LokiLogSource
from tui.model import FleetSnapshot
from tui.queries import QueryTemplate, load_templates
from tui.screens.fleet_rows import StateHistory
from tui.sources.fleet import Clients, FleetCollector, clients_from_settings
from tui.sources.loki import LokiClient
from tui.text import one_line
from tui.theme import THEMES, choose_theme
from tui.widgets.palette import FleetCommands

HANGUP_EXIT = 128 + signal.SIGHUP
HANGUP_GRACE = 3.0  # seconds a hung-up app gets to shut down before the process just ends


def detach_from_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null: the terminal is gone, and writing to it
    (restoring its modes on exit) would fail or block."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    os.close(null)


class RunnerdocApp(App[int]):
    """Fleet, runner, alerts, runbooks and query screens over one refreshing snapshot."""

    TITLE = "runnerdoc"
    BINDINGS = APP_KEYS
    COMMANDS = App.COMMANDS | {FleetCommands}
    CSS = """
    Screen { background: $background; }
    /* NO_COLOR strips backgrounds, so cursors and highlights fall back to reverse video. */
    DataTable:nocolor > .datatable--cursor, DataTable:nocolor:focus > .datatable--cursor {
        text-style: reverse bold;
    }
    OptionList:nocolor > .option-list--option-highlighted { text-style: reverse bold; }
    Tabs:nocolor .-active { text-style: reverse bold; }
    """

    def __init__(
        self,
        settings: Settings,
        *,
        collector: FleetCollector | None = None,
        clients: Clients | None = None,
        log_source: LogSource | None = None,
        templates: Mapping[str, QueryTemplate] | None = None,
        runbooks: Mapping[str, Any] | None = None,
        signatures: list[Any] | None = None,
        clock: Callable[[], float] = time.time,
        live: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        # With NO_COLOR, native ANSI colours make Textual strip colour instead of greying it.
        super().__init__(ansi_color=True if "NO_COLOR" in env else None)
        # Every animated scroll is frames over a slow SSH link; jump instead.
        self.animation_level = "none"
        self.settings = settings
        self.clock = clock
        self.live = live
        self.templates = templates if templates is not None else load_templates()
        self.clients = clients or (
            collector.clients if collector else clients_from_settings(settings)
        )
        self.collector = collector or FleetCollector(
            self.clients,
            host_label=settings.host_label,
            templates=self.templates,
            clock=clock,
            queued_repos=settings.queued_repos,
        )
        self.loki = LokiClient(settings.loki_url) if settings.loki_url else None
        if log_source is None and self.loki is not None:
            log_source = LokiLogSource(self.loki, self.templates, clock=clock)
        self.log_source = log_source
        self.snapshot: FleetSnapshot | None = None
        self.history = StateHistory()
        self.fleet_updated: Signal[FleetSnapshot] = Signal(self, "fleet-updated")
        self.refreshes = 0
        self._refreshing = False
        self._timer: Timer | None = None
        self._warnings: list[str] = []
        for theme in THEMES:
            self.register_theme(theme)
        name, warning = choose_theme(settings.theme, env, self.available_themes)
        self.theme = name
        if warning:
            self._warnings.append(warning)
        chosen, problems = keymap(settings.keys)
        self._warnings += problems
        self.set_keymap(chosen)
        self._previous_hangup: Any = None
        # Loaded on first use (the browser, a runner's runbooks), unless given.
        self._runbooks: dict[str, Any] | None = dict(runbooks) if runbooks is not None else None
        self._signatures: list[Any] | None = signatures

    # ----- shared data ------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return self.settings.read_only

    @property
    def runbooks(self) -> dict[str, Any]:
        if self._runbooks is None:
            from tui.runbooks.parse import load_runbooks

            self._runbooks = load_runbooks()
        return self._runbooks

    @property
    def signatures(self) -> list[Any]:
        if self._signatures is None:
            from tui.runbooks.signatures import load_signatures

            self._signatures = load_signatures()
        return self._signatures

    def now(self) -> float:
        return self.clock()

    # ----- lifecycle --------------------------------------------------------------------

    def get_default_screen(self):
        from tui.screens.fleet import FleetScreen

        return FleetScreen()

    def on_mount(self) -> None:
        self._install_hangup()
        for warning in self._warnings:
            self.notify(warning, severity="warning", markup=False, timeout=10)
        if self.live:
            self.refresh_fleet()

    async def on_unmount(self) -> None:
        if self._previous_hangup is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGHUP, self._previous_hangup)
        await self.clients.aclose()
        if self.loki is not None:
            await self.loki.aclose()
        close = getattr(self.log_source, "aclose", None)  # e.g. SSH sessions of a remote source
        if close is not None:
            await close()

    def _install_hangup(self) -> None:
        """A closed terminal or a dropped SSH session sends SIGHUP: end, do not spin.

        A plain signal handler, not the event loop's: it must work even when the loop is
        stuck writing to the terminal that just went away.
        """
        loop = asyncio.get_running_loop()

        def on_hangup(signum: int, frame: object) -> None:
            detach_from_terminal()
            # Last resort: if shutdown still hangs, end the process anyway.
            watchdog = threading.Timer(HANGUP_GRACE, os._exit, args=(HANGUP_EXIT,))
            watchdog.daemon = True
            watchdog.start()
            loop.call_soon_threadsafe(self.hang_up)

        try:
            self._previous_hangup = signal.signal(signal.SIGHUP, on_hangup)
        except ValueError:  # not the main thread (embedded use): nothing to install
            self._previous_hangup = None

    def hang_up(self) -> None:
        self.exit(return_code=HANGUP_EXIT)

    # ----- refresh ----------------------------------------------------------------------

    def refresh_fleet(self) -> None:
        """Refresh now, unless a refresh is already running (it re-arms the timer itself)."""
        if self._refreshing:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._refreshing = True
        self.run_worker(self._refresh(), group="refresh", exit_on_error=False)

    async def _refresh(self) -> None:
        try:
            snapshot = await self.collector.refresh()
        except asyncio.CancelledError:
            self._refreshing = False  # shutting down: no next refresh
            raise
        except Exception as e:
            self.notify(f"refresh failed: {type(e).__name__}: {e}", severity="error", markup=False)
        else:
            self.show_snapshot(snapshot)
        self._refreshing = False
        if self.live and self.is_running and not self._exit:
            self._timer = self.set_timer(
                self.settings.refresh_seconds, self.refresh_fleet, name="refresh"
            )

    def show_snapshot(self, snapshot: FleetSnapshot) -> None:
        """Make `snapshot` the one every screen shows (tests call this with fixed data)."""
        self.history.observe(snapshot)
        self.snapshot = snapshot
        self.refreshes += 1
        self.fleet_updated.publish(snapshot)

    # ----- actions ----------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.refresh_fleet()

    def open_wizard(self, runner: str, runbook_id: str | None = None) -> None:
        """Open the remediation wizard; without a runbook, diagnose first and take the top."""
        self.notify(f"diagnosing {one_line(runner, limit=60)}…" if runbook_id is None
                    else f"opening {runbook_id}…", markup=False)  # fmt: skip
        self.run_worker(self._open_wizard(runner, runbook_id), group="wizard", exclusive=True)

    async def _open_wizard(self, runner: str, runbook_id: str | None) -> None:
        import getpass

        from tui.remote import RunnerHosts
        from tui.runbooks.diagnosis import diagnose
        from tui.runbooks.evidence import gather
        from tui.runbooks.journal import Journal, new_run_id
        from tui.runbooks.runbook import ParameterError
        from tui.runbooks.targets import context_values, executors, ssh_log_reader
        from tui.screens.wizard import WizardScreen

        hosts = RunnerHosts(self.settings.ssh)
        if runbook_id is None:
            evidence = await gather(
                runner, self.runbooks, self.templates,
                github=self.clients.github, prometheus=self.clients.prometheus,
                alertmanager=self.clients.alertmanager, loki=self.loki,
                read_logs=ssh_log_reader(self.settings, hosts),
                host_label=self.settings.host_label,
            )  # fmt: skip
            findings = diagnose(evidence, self.runbooks, self.signatures)
            if not findings:
                self.notify(f"no known problem found on {one_line(runner)}", markup=False)
                hosts.close()
                return
            runbook_id = findings[0].runbook
            self.notify(f"top finding: {one_line(findings[0].cause)} -> {runbook_id}",
                        markup=False)  # fmt: skip
        runbook = self.runbooks[runbook_id]
        try:
            screen = WizardScreen(
                runbook, runner, context_values(runbook, runner, self.settings),
                executors(self.settings, runner, hosts), Journal(new_run_id()),
                operator=f"{getpass.getuser()}@{os.uname().nodename}",
                read_only=self.read_only,
            )  # fmt: skip
        except ParameterError as e:
            hosts.close()
            self.notify(f"{e}; run it with runnerdoc runbook run {runbook_id} --runner"
                        f" {one_line(runner)} --param NAME=VALUE", severity="error",
                        markup=False)  # fmt: skip
            return
        await self.push_screen(screen, callback=lambda _result: hosts.close())

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_go(self, where: str) -> None:
        from tui.screens.alerts import AlertsScreen
        from tui.screens.fleet import FleetScreen
        from tui.screens.queries import QueryScreen
        from tui.screens.runbooks import RunbookListScreen

        kinds: dict[str, type] = {
            "fleet": FleetScreen,
            "alerts": AlertsScreen,
            "runbooks": RunbookListScreen,
            "queries": QueryScreen,
        }
        kind = kinds[where]
        if isinstance(self.screen, kind):
            return
        # Going to a screen already on the stack goes back to it, so the stack stays short.
        if any(isinstance(s, kind) for s in self.screen_stack):
            while not isinstance(self.screen, kind):
                await self.pop_screen()
            return
        await self.push_screen(kind())

    def open_runner(self, runner_id: int) -> None:
        from tui.screens.runner import RunnerScreen

        self.push_screen(RunnerScreen(runner_id))

    def open_runbook(self, runbook_id: str, *, step: str | None = None) -> None:
        from tui.screens.runbooks import RunbookScreen

        if runbook_id not in self.runbooks:
            self.notify(f"no runbook {runbook_id!r} in docs/runbooks", markup=False)
            return
        self.push_screen(RunbookScreen(runbook_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS and self.read_only:
            return False
        if action in TYPED_ACTIONS and isinstance(self.focused, Input):
            return False  # `:` typed into a filter is text, not the palette
        return True


def run_app(settings: Settings) -> int:
    """Run the terminal UI until the user quits or the terminal goes away; the exit code."""
    app = RunnerdocApp(settings)
    try:
        app.run()
    except OSError:
        # The terminal vanished while Textual was restoring it: nothing left to restore.
        if app.return_code == HANGUP_EXIT:
            return HANGUP_EXIT
        raise
    return app.return_code or 0
