"""Where runnerdoc's own content is: runbooks, log signatures, query templates, monitoring.

From a clone (or an editable install) it is the repository's folders, so an edit shows at
once. An installed wheel carries a copy under `<prefix>/share/runnerdoc/` (pyproject's
data-files), next to the `lib/pythonX.Y/site-packages` the package was installed into.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SHARED = Path("share") / "runnerdoc"


def _candidates() -> list[Path]:
    found = [PACKAGE.parent]  # a clone: tui/ sits in the repository
    if len(PACKAGE.parents) > 3:  # <prefix>/lib/pythonX.Y/site-packages/tui -> <prefix>
        found.append(PACKAGE.parents[3] / SHARED)
    found.append(Path(sys.prefix) / SHARED)  # a venv or pipx install
    return found


def content_root() -> Path:
    """The folder holding docs/runbooks and queries (the repository, or the wheel's copy)."""
    for root in _candidates():
        if (root / "docs" / "runbooks").is_dir() and (root / "queries").is_dir():
            return root
    return PACKAGE.parent  # nothing found: errors then name the repository's paths


ROOT = content_root()
