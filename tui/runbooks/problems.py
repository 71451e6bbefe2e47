"""One-line problem reports with file and line, shared by the runbook and signature loaders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui.text import one_line


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {one_line(self.message)}"


class ContentError(Exception):
    """Raised when a runbook or signature file cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__(str(self.problems[0]) if self.problems else "invalid content")


def display_path(path: Path) -> str:
    """The path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
