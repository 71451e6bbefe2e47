"""When to send a pool's jobs elsewhere and when to bring them back: pure decisions on a clock.

Hysteresis in time: the pool must stay short for `for_seconds` before the switch, and stay
healthy for `recover_seconds` before the switch back; any reading the other way restarts the
wait, so a count that wobbles around the minimum never flips the variable to and fro.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Mode(StrEnum):
    PRIMARY = "primary"  # jobs go to the self-hosted pool (the variable is unset)
    FALLBACK = "fallback"  # the variable sends jobs to the fallback labels


class Switch(StrEnum):
    FAIL_OVER = "fail-over"
    FAIL_BACK = "fail-back"


@dataclass(frozen=True)
class FailoverPolicy:
    min_online: int = 1
    for_seconds: float = 300.0
    recover_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.min_online < 1:
            raise ValueError("min_online must be at least 1")
        if self.for_seconds < 0 or self.recover_seconds < 0:
            raise ValueError("for_seconds and recover_seconds cannot be negative")


@dataclass(frozen=True)
class PoolReading:
    """What was seen of the pool: `short` is True when it is below its minimum."""

    short: bool
    online: int | None = None  # None when the reading came from an alert, not a count
    why: str = ""


@dataclass(frozen=True)
class FailoverState:
    mode: Mode = Mode.PRIMARY
    short_since: float | None = None  # first of an unbroken run of short readings
    healthy_since: float | None = None  # first of an unbroken run of healthy readings
    last: PoolReading | None = None


@dataclass(frozen=True)
class Decision:
    state: FailoverState  # to keep once the switch (if any) has been made
    switch: Switch | None = None
    reason: str = ""


def reading_of(online: int, policy: FailoverPolicy) -> PoolReading:
    short = online < policy.min_online
    why = f"{online} runner(s) online, minimum {policy.min_online}"
    return PoolReading(short, online, why)


def decide(
    state: FailoverState, reading: PoolReading, now: float, policy: FailoverPolicy
) -> Decision:
    """Fold one reading into the state; say whether to switch now.

    Called again with the same reading as time passes (a timer tick), it switches once the
    wait is over. The caller keeps `Decision.state` only when the switch went through, so a
    failed switch is tried again on the next reading.
    """
    if reading.short:
        short_since = state.short_since if state.short_since is not None else now
        new = replace(state, short_since=short_since, healthy_since=None, last=reading)
        waited = now - short_since
        if state.mode is Mode.PRIMARY and waited >= policy.for_seconds:
            return Decision(
                replace(new, mode=Mode.FALLBACK),
                Switch.FAIL_OVER,
                f"{reading.why or 'pool short'} for {waited:.0f} s "
                f"(switch after {policy.for_seconds:g} s)",
            )
        return Decision(new)
    healthy_since = state.healthy_since if state.healthy_since is not None else now
    new = replace(state, healthy_since=healthy_since, short_since=None, last=reading)
    waited = now - healthy_since
    if state.mode is Mode.FALLBACK and waited >= policy.recover_seconds:
        return Decision(
            replace(new, mode=Mode.PRIMARY),
            Switch.FAIL_BACK,
            f"{reading.why or 'pool healthy'} for {waited:.0f} s "
            f"(switch back after {policy.recover_seconds:g} s)",
        )
    return Decision(new)
