"""Command palette entries: jump to any runner by name, to a screen, or to a runbook.

Runner names are untrusted: the palette shows them as plain Content with the fuzzy
match highlighted by offsets, never through Textual's markup-parsing highlighter.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Matcher, Provider
from textual.content import Content

from tui.text import one_line

SCREENS = (
    ("Fleet", "every runner with its state and host health", "fleet"),
    ("Alerts", "firing alerts, grouped; open a runbook or silence", "alerts"),
    ("Runbooks", "browse the runbooks as the site shows them", "runbooks"),
    ("Query explorer", "run any query template against Prometheus or Loki", "queries"),
)


def highlighted(matcher: Matcher, text: str) -> Content:
    """`text` as plain content with the matched characters styled."""
    content = Content(text)
    score, offsets = matcher.fuzzy_search.match(matcher.query, text)
    if score:
        for offset in offsets:
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class FleetCommands(Provider):
    """Runners (from the current snapshot), screens and runbooks."""

    def _entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        entries: list[tuple[str, str, Callable[[], object]]] = []
        for title, help_text, where in SCREENS:
            entries.append((f"Go to {title}", help_text, partial(app.run_action, f"go('{where}')")))
        snapshot = getattr(app, "snapshot", None)
        if snapshot is not None:
            for row in snapshot.rows:
                name = one_line(row.name, limit=100)
                entries.append(
                    (
                        f"Runner {name}",
                        f"{row.state.value} · {one_line(row.pool, limit=40)}",
                        partial(app.open_runner, row.runner.id),
                    )
                )
        for runbook in getattr(app, "runbooks", {}).values():
            entries.append(
                (f"Runbook {runbook.title}", runbook.summary, partial(app.open_runbook, runbook.id))
            )
        return entries

    async def discover(self) -> Hits:
        app = self.app
        for title, help_text, where in SCREENS:
            yield DiscoveryHit(
                Content(f"Go to {title}"),
                partial(app.run_action, f"go('{where}')"),
                text=f"Go to {title}",
                help=help_text,
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, command in self._entries():
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score, highlighted(matcher, text), command, text=text, help=Content(help_text)
                )
