"""Untrusted text never reaches the terminal with control characters or escapes in it."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tui.text import one_line, safe_text

HOSTILE = [
    ("\x1b[31mred\x1b[0m", "red"),  # colour
    ("a\x1b[2J\x1b[Hb", "ab"),  # clear screen, cursor home
    ("x\x1b]52;c;ZXZpbA==\x07y", "xy"),  # OSC 52 clipboard write, BEL-terminated
    ("x\x1b]0;owned\x1b\\y", "xy"),  # window title, ST-terminated
    ("x\x9b31my", "xy"),  # 8-bit CSI
    ("x\x1bPq#0;2;0;0;0\x1b\\y", "xy"),  # DCS (sixel)
    ("zero\u200bwidth", "zerowidth"),
    ("rtl\u202eevil", "rtlevil"),
    ("bell\x07", "bell\ufffd"),
    ("tab\there", "tab here"),
]


def test_escape_sequences_and_invisible_characters_are_removed():
    for raw, shown in HOSTILE:
        assert safe_text(raw) == shown, repr(raw)


def test_one_line_joins_lines_and_limits_length():
    assert one_line("a\nb\r\nc") == "a b c"
    assert one_line("x" * 10_000, limit=20) == "x" * 19 + "…"


@given(st.text())
def test_nothing_unsafe_survives(text):
    out = safe_text(text)
    assert "\x1b" not in out and "\x9b" not in out
    for ch in out:
        assert unicodedata.category(ch) not in ("Cc", "Cs"), repr(ch)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cf"))))
def test_ordinary_text_is_left_alone(text):
    assert safe_text(text) == text
