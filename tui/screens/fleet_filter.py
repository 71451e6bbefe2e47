"""The fleet filter language, as typed after `/`: regexes and field tokens, AND-ed.

`gpu` (regex over name, pool, labels, version and alert names), `state:offline`
(or `state:offline,orphan`), `label:gpu`, `pool:pool-a` (regexes matching a whole label or
pool name), each negated by a leading `!`. Matching ignores case. Pure: no Textual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tui.model import FleetRow, RunnerState
from tui.text import one_line

FIELDS = ("state", "label", "pool")


class FilterError(ValueError):
    """The filter text cannot be used; the message says which token and why."""


@dataclass(frozen=True)
class _Term:
    field: str | None  # None: free text
    pattern: re.Pattern[str] | None
    states: frozenset[RunnerState] = frozenset()
    negated: bool = False

    def holds(self, row: FleetRow, haystack: str) -> bool:
        if self.field == "state":
            hit = row.state in self.states
        elif self.field == "label":
            assert self.pattern is not None
            hit = any(self.pattern.fullmatch(one_line(x)) for x in row.runner.labels)
        elif self.field == "pool":
            assert self.pattern is not None
            hit = self.pattern.fullmatch(one_line(row.pool)) is not None
        else:
            assert self.pattern is not None
            hit = self.pattern.search(haystack) is not None
        return hit != self.negated


def _states(value: str) -> frozenset[RunnerState]:
    chosen: set[RunnerState] = set()
    for part in value.split(","):
        part = part.strip().lower()
        matches = [s for s in RunnerState if s.value.startswith(part)] if part else []
        if len(matches) != 1:
            known = ", ".join(s.value for s in RunnerState)
            raise FilterError(f"state:{value}: say one of {known}")
        chosen.add(matches[0])
    return frozenset(chosen)


def _regex(text: str, token: str) -> re.Pattern[str]:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as e:
        raise FilterError(f"{token}: not a regular expression: {e}") from None


@dataclass(frozen=True)
class FleetFilter:
    """A parsed filter; the empty filter keeps every row."""

    text: str
    terms: tuple[_Term, ...] = ()

    @classmethod
    def parse(cls, text: str) -> FleetFilter:
        terms: list[_Term] = []
        for token in text.split():
            negated = token.startswith("!")
            body = token[1:] if negated else token
            if not body:
                raise FilterError("! needs something after it, e.g. !state:idle")
            name, sep, value = body.partition(":")
            if sep and name.lower() in FIELDS:
                if not value:
                    raise FilterError(f"{token}: give a value after the colon")
                field = name.lower()
                if field == "state":
                    terms.append(_Term("state", None, _states(value), negated))
                else:
                    terms.append(_Term(field, _regex(value, token), negated=negated))
            else:
                terms.append(_Term(None, _regex(body, token), negated=negated))
        return cls(text, tuple(terms))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def keeps(self, row: FleetRow) -> bool:
        if not self.terms:
            return True
        # Matched against what the screen shows: escapes and invisible characters removed.
        haystack = one_line(
            " ".join(
                (
                    row.name,
                    row.pool,
                    " ".join(row.runner.labels),
                    row.runner.version or "",
                    " ".join(a.name for a in row.alerts),
                )
            )
        )
        return all(term.holds(row, haystack) for term in self.terms)
