"""The confirm dialog for an Alertmanager silence: what it matches, for how long, and why.

It returns a `SilenceRequest` or None; the screen that opened it sends the request from a
worker. Never opened in read-only mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from tui.text import one_line
from tui.widgets.steady_input import SteadyInput

MAX_SILENCE = timedelta(days=7)
_PART = re.compile(r"([0-9]+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """`30m`, `2h`, `1d`, `1h30m` -> timedelta; ValueError with a one-line reason."""
    text = text.strip().lower()
    if not text or _PART.sub("", text):
        raise ValueError("duration looks like 30m, 2h, 1d or 1h30m")
    total = timedelta()
    for amount, unit in _PART.findall(text):
        total += timedelta(**{_UNITS[unit]: int(amount)})
    if total <= timedelta(0):
        raise ValueError("duration must be longer than zero")
    if total > MAX_SILENCE:
        raise ValueError("at most 7d: a longer silence hides the next real outage")
    return total


@dataclass(frozen=True)
class SilenceRequest:
    matchers: dict[str, str]
    duration: timedelta
    comment: str


class SilenceDialog(ModalScreen[SilenceRequest | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="cancel-dialog")
    ]
    DEFAULT_CSS = """
    SilenceDialog { align: center middle; }
    SilenceDialog > Vertical { width: 70; max-width: 100%; height: auto; border: thick $warning;
                               background: $surface; padding: 0 1; }
    SilenceDialog Input { margin: 0; }
    SilenceDialog #error { color: $error; height: auto; }
    SilenceDialog Horizontal { height: auto; align-horizontal: right; }
    SilenceDialog Button { margin: 0 0 0 1; min-width: 10; }
    """

    def __init__(self, matchers: dict[str, str], *, duration: str = "2h") -> None:
        super().__init__()
        self.matchers = dict(matchers)
        self.default_duration = duration

    def compose(self) -> ComposeResult:
        shown = ", ".join(f'{k}="{one_line(v, limit=80)}"' for k, v in self.matchers.items())
        with Vertical():
            yield Static(Text("Silence alerts matching", style="bold"))
            yield Static(Text(shown), id="matchers")
            yield SteadyInput(
                self.default_duration, placeholder="duration: 30m, 2h, 1d", id="duration"
            )
            yield SteadyInput(placeholder="comment (required): why, and the ticket", id="comment")
            yield Static(id="error", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Silence", id="confirm", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#comment", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "duration":
            self.set_focus(self.query_one("#comment", Input))
        else:
            self._confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self._confirm()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _confirm(self) -> None:
        error = self.query_one("#error", Static)
        try:
            duration = parse_duration(self.query_one("#duration", Input).value)
        except ValueError as e:
            error.update(str(e))
            self.set_focus(self.query_one("#duration", Input))
            return
        comment = self.query_one("#comment", Input).value.strip()
        if not comment:
            error.update("a comment is required: say why, so the next on-call knows")
            self.set_focus(self.query_one("#comment", Input))
            return
        self.dismiss(SilenceRequest(self.matchers, duration, comment))


def created_by() -> str:
    import getpass

    try:
        return f"{getpass.getuser()} via runnerdoc"
    except (KeyError, OSError):
        return "runnerdoc"


def ask_and_silence(screen, matchers: dict[str, str]) -> None:
    """Open the dialog from `screen`; on confirm, create the silence in a worker."""
    app = screen.app
    if app.read_only:  # the binding is hidden too; this guards every other way in
        app.notify("read-only mode: silences are disabled", severity="warning")
        return
    client = app.clients.alertmanager
    if client is None:
        app.notify("no Alertmanager: set [alertmanager] url", severity="warning", markup=False)
        return

    async def send(request: SilenceRequest) -> None:
        from tui.sources.errors import SourceError

        try:
            silence_id = await client.create_silence(
                request.matchers,
                duration=request.duration,
                created_by=created_by(),
                comment=request.comment,
            )
        except SourceError as e:
            app.notify(f"silence failed: {e}", severity="error", markup=False, timeout=10)
            return
        app.notify(f"silenced until it expires: {one_line(silence_id, limit=40)}", markup=False)
        app.refresh_fleet()

    def done(request: SilenceRequest | None) -> None:
        if request is not None:
            screen.run_worker(send(request), group="silence", exit_on_error=False)

    app.push_screen(SilenceDialog(matchers), done)
