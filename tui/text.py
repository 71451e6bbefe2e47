"""Making untrusted text safe to show: no control characters, no terminal escapes.

Runner names, labels, log lines and API errors come from outside. A log line can
carry escape sequences that move the cursor, change the title or write the
clipboard (OSC 52), so everything shown passes through `safe_text` first.
"""

from __future__ import annotations

import re
import unicodedata

# CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC strings and two-byte ESC sequences,
# in 7-bit and 8-bit forms.
_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                           # CSI ... final byte
  | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)  # OSC/DCS/SOS/PM/APC
  | \x1b[ -/]*[0-~]                                            # other ESC sequences
    """,
    re.VERBOSE | re.DOTALL,
)

# Bidirectional overrides and isolates can make text read in another order than it
# runs (CVE-2021-42574 "Trojan Source"); zero-width characters hide text.
_INVISIBLE = {
    "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069",
}  # fmt: skip


def safe_text(text: str, *, keep_newlines: bool = False, limit: int | None = None) -> str:
    """Text with escape sequences removed and other control characters made visible.

    Control characters become U+FFFD so that a reader sees something was there.
    Tabs become a space. With `limit`, the result is cut to that many characters
    and ends in an ellipsis.
    """
    text = _ESCAPES.sub("", text)
    out: list[str] = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif ch in _INVISIBLE:
            continue
        elif unicodedata.category(ch) in ("Cc", "Cs", "Co"):
            out.append("\ufffd")
        else:
            out.append(ch)
    result = "".join(out)
    if limit is not None and len(result) > limit:
        result = result[: max(limit - 1, 0)] + "…"
    return result


def one_line(text: str, limit: int | None = None) -> str:
    """Safe text on a single line, for error messages and table cells."""
    return safe_text(" ".join(text.split()), limit=limit)
