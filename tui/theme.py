"""runnerdoc's themes (dark, light, ANSI-only) and the colours it gives states and severities.

State and severity colours are the terminal's 16 ANSI colours: the ANSI theme shows them
as the terminal's own palette, the other themes map them to true colour. Every coloured
thing also has a symbol or a word, so NO_COLOR loses nothing that matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.theme import BUILTIN_THEMES, Theme

from tui.model import RunnerState

DARK, LIGHT, ANSI = "runnerdoc-dark", "runnerdoc-light", "runnerdoc-ansi"

THEMES = (
    Theme(
        name=DARK,
        primary="#4A9EE0",
        secondary="#7FB4D9",
        accent="#E0A24A",
        warning="#E0C24A",
        error="#E05A4A",
        success="#5AB85A",
        foreground="#D8DEE9",
        background="#14181E",
        surface="#1C222A",
        panel="#252C36",
        dark=True,
    ),
    Theme(
        name=LIGHT,
        primary="#1F5F99",
        secondary="#3A6F8F",
        accent="#9A5B00",
        warning="#8A6A00",
        error="#B0281A",
        success="#2E7D32",
        foreground="#1B1F24",
        background="#FAFAF7",
        surface="#EFEFEA",
        panel="#E2E4E0",
        dark=False,
    ),
    Theme(
        name=ANSI,
        ansi=True,
        primary="ansi_blue",
        secondary="ansi_cyan",
        accent="ansi_yellow",
        warning="ansi_yellow",
        error="ansi_red",
        success="ansi_green",
        foreground="ansi_default",
        background="ansi_default",
        surface="ansi_default",
        panel="ansi_default",
        boost="ansi_default",
        dark=True,
        variables={
            # Textual's ansi-dark values, which its widgets' CSS needs, plus a few of ours.
            **BUILTIN_THEMES["ansi-dark"].variables,
            "border-blurred": "ansi_bright_black",
            "block-cursor-text-style": "bold",
            "footer-key-foreground": "ansi_yellow",
        },
    ),
)

# Names people may write in the config for the three themes; Textual's own names work too.
ALIASES = {
    "dark": DARK,
    "light": LIGHT,
    "ansi": ANSI,
    "mono": ANSI,
    "textual-ansi": ANSI,  # Textual's ANSI theme before it was split into ansi-dark/-light
}

STATE_STYLE = {
    RunnerState.IDLE: "green",
    RunnerState.ACTIVE: "cyan",
    RunnerState.OFFLINE: "bold red",
    RunnerState.ORPHAN: "bold magenta",
}
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def no_color(env: Mapping[str, str]) -> bool:
    """NO_COLOR as Textual reads it: set at all, whatever its value."""
    return "NO_COLOR" in env


def choose_theme(
    requested: str, env: Mapping[str, str], available: Iterable[str]
) -> tuple[str, str | None]:
    """The theme to start with, and a warning when the requested one cannot be used.

    NO_COLOR forces the ANSI theme: with it Textual strips colours instead of turning
    true colour into grey, so the terminal's own foreground and background remain.
    """
    names = set(available)
    if no_color(env):
        return ANSI, None
    wanted = ALIASES.get(requested, requested)
    if wanted in names:
        return wanted, None
    return DARK, f"unknown theme {requested!r}; using {DARK} (also: {LIGHT}, {ANSI})"
