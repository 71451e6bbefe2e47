"""Typed errors every source raises; messages are one line, safe to show, free of secrets."""

from __future__ import annotations

from tui.text import one_line


class SourceError(Exception):
    """A source could not give its data. `source` names it: github, prometheus, ..."""

    source = "source"

    def __init__(self, message: str):
        super().__init__(one_line(message, limit=300))


class SourceUnavailable(SourceError):
    """Not reachable, timed out, or answered with a server error or a malformed body."""


class QueryRejected(SourceError):
    """The server understood the request and refused the query (HTTP 400, bad_data)."""
