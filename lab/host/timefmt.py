"""Timestamps the way the programs on a runner host print them (systemd, journalctl, the runner).

Every function takes the host's own clock reading (epoch seconds, already skewed by the
host's clock offset) and formats it in UTC, as lab hosts run on UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def systemd_timestamp(ts: float) -> str:
    """`Wed 2024-05-01 10:00:00 UTC`, as `systemctl show` and `systemctl status` print."""
    return _dt(ts).strftime("%a %Y-%m-%d %H:%M:%S UTC")


def journal_short(ts: float) -> str:
    """`May 01 10:00:00`, the time prefix of `journalctl -o short`."""
    return _dt(ts).strftime("%b %d %H:%M:%S")


def journal_iso(ts: float) -> str:
    """`2024-05-01T10:00:00+0000`, the prefix of `journalctl -o short-iso`."""
    return _dt(ts).strftime("%Y-%m-%dT%H:%M:%S+0000")


def runner_utc(ts: float) -> str:
    """`2024-05-01 10:00:00Z`: the runner's own timestamps, in `_diag` and on its terminal."""
    return _dt(ts).strftime("%Y-%m-%d %H:%M:%SZ")


def diag_file_stamp(ts: float) -> str:
    """`20240501-100000`, the middle of `Runner_20240501-100000-utc.log`."""
    return _dt(ts).strftime("%Y%m%d-%H%M%S")


def date_default(ts: float) -> str:
    """`Wed May  1 10:00:00 UTC 2024`, what `date` prints without a format."""
    d = _dt(ts)
    return f"{d:%a %b} {d.day:2d} {d:%H:%M:%S} UTC {d.year}"


def timespan(seconds: float) -> str:
    """systemd's short time span: `5s`, `1min 5s`, `2h 3min`, `3 days 2h`."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        unit = "day" if days == 1 else "days"
        return f"{days} {unit} {hours}h" if hours else f"{days} {unit}"
    if hours:
        return f"{hours}h {minutes}min" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}min {secs}s" if secs else f"{minutes}min"
    return f"{secs}s"


def elapsed(seconds: float) -> str:
    """ps's ELAPSED column: `[[dd-]hh:]mm:ss`."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


_UNITS = {
    "us": 1e-6,
    "usec": 1e-6,
    "ms": 1e-3,
    "msec": 1e-3,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
    "month": 2629800,
    "months": 2629800,
    "y": 31557600,
    "year": 31557600,
    "years": 31557600,
}
_SPAN = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]+)")
_WEEKDAY = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)[a-z]*\s+", re.I)


def _span_seconds(text: str) -> float | None:
    pos, total = 0, 0.0
    text = text.strip()
    if not text:
        return None
    while pos < len(text):
        m = _SPAN.match(text, pos)
        if not m or m.group(2) not in _UNITS:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total


def parse_systemd_time(text: str, now: float) -> float:
    """A timestamp as journalctl --since/--until and `systemd-analyze timestamp` accept it.

    Supports `YYYY-MM-DD [HH:MM[:SS]]`, `HH:MM[:SS]`, an optional weekday in front and
    `UTC` behind, `now`, `today`, `yesterday`, `tomorrow`, `@EPOCH`, `-30min`, `+1h` and
    `2 days ago`. Raises ValueError like systemd's "Failed to parse timestamp".
    """
    raw = text
    text = text.strip()
    if text.startswith("@"):
        return float(text[1:])
    lowered = text.lower()
    today = _dt(now).replace(hour=0, minute=0, second=0, microsecond=0)
    named = {
        "now": _dt(now),
        "today": today,
        "yesterday": today - timedelta(days=1),
        "tomorrow": today + timedelta(days=1),
    }
    if lowered in named:
        return named[lowered].timestamp()
    if lowered.endswith(" ago"):
        span = _span_seconds(lowered[:-4])
        if span is not None:
            return now - span
    if lowered[:1] in "+-":
        span = _span_seconds(lowered[1:])
        if span is not None:
            return now + span if lowered[0] == "+" else now - span
    text = _WEEKDAY.sub("", text)
    text = re.sub(r"\s+(UTC|GMT|Z)$", "", text, flags=re.I)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            t = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return today.replace(hour=t.hour, minute=t.minute, second=t.second).timestamp()
    raise ValueError(f"Failed to parse timestamp: {raw}")
