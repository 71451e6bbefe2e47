"""Every key binding of the terminal UI, by action name, and the `[keys]` remapping.

A binding's id is the action name people write in the config (`[keys] filter = "f"`);
Textual's keymap swaps the key at startup. Write actions are listed so read-only mode
can hide them everywhere (k9s --readonly).
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.binding import Binding

# Actions that change something outside runnerdoc: hidden and refused in read-only mode.
WRITE_ACTIONS = frozenset({"silence", "silence_runner"})
# Priority keys that must reach a focused text input as text instead.
TYPED_ACTIONS = frozenset({"filter", "log_search", "command_palette"})


def key(
    id: str, keys: str, action: str, description: str, *, show: bool = True, first: bool = False
) -> Binding:
    """`first`: a priority binding, run before the next key is dispatched, so text typed
    right after it lands where it opens; screens pass such keys on while an input is focused.
    """
    return Binding(keys, action, description, show=show, id=id, priority=first)


APP_KEYS = [
    key("quit", "q", "quit", "Quit"),
    key("help", "question_mark", "help", "Help"),
    key("palette", "colon", "command_palette", "Jump", show=False, first=True),
    key("refresh", "ctrl+r", "refresh", "Refresh", show=False),
    key("fleet", "F", "go('fleet')", "Fleet", show=False),
    key("alerts", "a", "go('alerts')", "Alerts"),
    key("runbooks", "b", "go('runbooks')", "Runbooks"),
    key("queries", "e", "go('queries')", "Queries"),
]
BACK = key("back", "escape", "back", "Back")
# On every list: DataTable's own Enter, given an id so it can be remapped and listed in help.
OPEN = key("open", "enter", "select_cursor", "Open", show=False)

FLEET_KEYS = [
    key("filter", "slash", "filter", "Filter", first=True),
    key("sort-next", "o", "sort(1)", "Sort"),
    key("sort-previous", "O", "sort(-1)", "Sort back", show=False),
    key("sort-reverse", "R", "sort_reverse", "Reverse", show=False),
    key("group", "g", "group", "Group"),
    key("clear-filter", "escape", "clear_filter", "Clear filter", show=False),
]

RUNNER_KEYS = [
    BACK,
    key("range", "t", "range", "Range"),
    key("range-1h", "1", "range('1h')", "1 hour", show=False),
    key("range-6h", "6", "range('6h')", "6 hours", show=False),
    key("range-24h", "d", "range('24h')", "24 hours", show=False),
    key("tab-charts", "c", "tab('charts')", "Charts", show=False),
    key("tab-logs", "l", "tab('logs')", "Logs"),
    key("log-search", "slash", "log_search", "Search logs", show=False, first=True),
    key("tab-alerts", "a", "tab('alerts')", "Alerts"),
    key("tab-runbooks", "b", "tab('alerts')", "Runbooks", show=False),
    key("tab-actions", "x", "tab('actions')", "Actions", show=False),
    key("silence_runner", "s", "silence_runner", "Silence"),
    key("wizard", "w", "wizard", "Fix"),
    key("copy-name", "y", "copy_name", "Copy name", show=False),
]

ALERTS_KEYS = [
    BACK,
    key("silence", "s", "silence", "Silence"),
    key("alert-wizard", "w", "wizard", "Fix"),
]

RUNBOOKS_KEYS = [BACK]

QUERY_KEYS = [
    BACK,
    key("run-query", "ctrl+r", "run", "Run"),
    key("query-mode", "ctrl+t", "mode", "Instant/range"),
    key("query-range", "ctrl+y", "range", "Range"),
]

ALL_IDS = frozenset(
    b.id
    for group in (APP_KEYS, FLEET_KEYS, RUNNER_KEYS, ALERTS_KEYS, RUNBOOKS_KEYS, QUERY_KEYS, [OPEN])
    for b in group
    if b.id
)


def keymap(keys: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The Textual keymap for `[keys]` (action name -> key), and a warning per unknown name."""
    chosen: dict[str, str] = {}
    warnings: list[str] = []
    for action, value in keys.items():
        if action not in ALL_IDS:
            warnings.append(
                f"[keys] {action}: no such action (known: {', '.join(sorted(ALL_IDS))})"
            )
            continue
        if not value.strip():
            warnings.append(f"[keys] {action}: empty key")
            continue
        chosen[action] = value
    return chosen, warnings
