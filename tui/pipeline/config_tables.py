"""The pipeline integrations' own tables of the runnerdoc config file: [check], [notify],
[metrics] and [failover]. The shared settings loader ignores them; these readers check them."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tui.config import ConfigError, Settings


def config_table(settings: Settings, name: str) -> Mapping[str, Any]:
    """The `[name]` table of the file the settings came from; empty when there is none."""
    path = settings.source
    if path is None:
        return {}
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        # load_settings read the same file a moment ago, so this is a rare race.
        raise ConfigError(f"{path}: cannot read [{name}]: {type(e).__name__}") from None
    table = data.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return table


class TableReader:
    """Typed access to one table, with errors that name the file and the key."""

    def __init__(self, table: Mapping[str, Any], where: str, known: Sequence[str]):
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        self.table = table
        self.where = where

    def number(self, key: str, default: float | None) -> float | None:
        value = self.table.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.where}: {key} must be a number")
        return float(value)

    def integer(self, key: str, default: int) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.where}: {key} must be a whole number")
        return value

    def text(self, key: str, default: str | None) -> str | None:
        value = self.table.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{self.where}: {key} must be a non-empty string")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where}: {key} must be true or false")
        return value

    def strings(self, key: str, default: Sequence[str]) -> tuple[str, ...]:
        value = self.table.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{self.where}: {key} must be a list of strings")
        return tuple(value)


def table_reader(
    settings: Settings,
    name: str,
    known: Sequence[str],
    overrides: Mapping[str, Any] | None = None,
) -> TableReader:
    """The `[name]` table, with `overrides` (command-line values; None means not given) on top."""
    where = f"{settings.source}: [{name}]" if settings.source else f"[{name}]"
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    return TableReader({**config_table(settings, name), **given}, where, known)
