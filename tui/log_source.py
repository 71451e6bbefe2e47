"""Where a runner's recent log lines come from: the `LogSource` interface and its Loki version.

The runner screen only knows `LogSource`; logs read over SSH (the remote layer) plug in
by implementing the same two members. No Textual here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from tui.model import LogLine
from tui.queries import QueryTemplate, escape_regex
from tui.sources.loki import LokiClient

WINDOW_SECONDS = 24 * 3600  # how far back "recent" looks; Loki stops at the limit anyway


@runtime_checkable
class LogSource(Protocol):
    """Recent log lines of one runner, newest first.

    `contains`: only lines holding this text (ignoring case); a source that cannot search
    may return unfiltered lines, the view filters again. Raises `SourceError` (or a
    subclass) when the source cannot answer, `ValueError` when the request is refused
    before it is sent (e.g. a runner name no query can hold).
    """

    name: str

    async def recent(
        self, runner: str, limit: int, *, contains: str | None = None
    ) -> list[LogLine]: ...


class LokiLogSource:
    """Runner logs from Loki via the query templates, the same queries the site documents.

    The client belongs to the caller, who closes it.
    """

    name = "loki"

    def __init__(
        self,
        client: LokiClient,
        templates: Mapping[str, QueryTemplate],
        *,
        clock: Callable[[], float] = time.time,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.client = client
        self.templates = templates
        self.clock = clock
        self.window = window

    def query(self, runner: str, contains: str | None = None) -> str:
        """The LogQL for one runner's lines; raises tui.queries.ParameterError."""
        exact = escape_regex(runner)
        if contains:
            return self.templates["runner-log-search"].render({"runner": exact, "text": contains})
        # Every level, not just errors: the lines before an error explain it.
        return self.templates["runner-error-logs"].render({"runner": exact, "level": ".+"})

    async def recent(
        self, runner: str, limit: int, *, contains: str | None = None
    ) -> list[LogLine]:
        now = self.clock()
        return await self.client.logs(
            self.query(runner, contains), start=now - self.window, end=now + 1, limit=limit
        )
