"""Small usage bars on a fixed 0-100% scale: the same length means the same load everywhere.

Colour bands add to the length, never replace it, so a bar reads without colour too.
"""

from __future__ import annotations

from rich.text import Text

EIGHTHS = " ▏▎▍▌▋▊▉"
FULL = "█"
WARN_AT = 75
CRITICAL_AT = 90


def band_style(percent: int) -> str:
    if percent >= CRITICAL_AT:
        return "bold red"
    if percent >= WARN_AT:
        return "yellow"
    return "green"


def bar_text(level: int, cells: int) -> str:
    """`level` eighths of `cells` cells, padded with a faint track."""
    level = max(0, min(level, cells * 8))
    full, part = divmod(level, 8)
    text = FULL * full
    if part and full < cells:
        text += EIGHTHS[part]
    return text + "·" * (cells - len(text))


def usage_bar(level: int, percent: int, cells: int, *, show_percent: bool) -> Text:
    """A bar for a quantised value from `fleet_rows`; `percent` -1 means not shown."""
    out = Text(no_wrap=True, end="")
    shown = bar_text(level, cells)
    filled = len(shown.rstrip("·"))
    style = band_style(percent if percent >= 0 else round(level * 100 / (cells * 8)))
    out.append(shown[:filled], style=style)
    out.append(shown[filled:], style="bright_black")
    if show_percent and percent >= 0:
        out.append(f"{percent:>4}%", style=style if percent >= WARN_AT else "")
    return out
