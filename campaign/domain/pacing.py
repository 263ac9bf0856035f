"""Pacing: the one place where a campaign's rate and concurrency limits become numbers.

`limits.py` enforces these in Redis (a GCRA per key, expiring live-call leases); the dispatcher
sizes its claims with `dispatch_budget`; the sweeper declares attempts lost at `attempt_deadline`.
Every figure any of them needs is computed here, so the three can never disagree.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from campaign.domain.blocks import read_block
from campaign.domain.durations import format_duration, parse_duration
from campaign.errors import SpecInvalid

# The GCRA works in whole milliseconds, so 1000/s is the finest rate it can express.
MAX_CPS = 1000
DEFAULT_CPS = 10.0
DEFAULT_MAX_LIVE_CALLS = 50
DEFAULT_MAX_CALL_DURATION = timedelta(minutes=30)
DEFAULT_BURST = 1
JITTER_SLACK_MS = 25.0
# SAVG's own defaults (docs/gateway.md §1), which apply to any timer a spec leaves out.
SAVG_DEFAULT_AMD_TIMERS_MS: Mapping[str, int] = {
    "noSpeechTimeoutMs": 5000,
    "decisionTimeoutMs": 15000,
    "toneTimeoutMs": 20000,
    "greetingCompletionTimeoutMs": 2000,
}
_KEYS = ("cps", "max_live_calls", "max_call_duration", "burst")


def emission_interval_ms(cps: float) -> float:
    """GCRA emission interval T: the spacing between two dial-outs at `cps`, the one formula the
    limiter enforces.

    Every second of intervals is stretched by JITTER_SLACK_MS, so that jitter between a reserved
    slot and the moment the request reaches the gateway (scheduling, a busy host) up to that many
    ms can never squeeze cps+1 calls into one second there. It costs 1000/(1000+25) = 2.4 % of the
    rate, and makes the enforced rate strictly below `cps` whatever rounding the caller does.
    """
    if isinstance(cps, bool) or not 0 < cps <= MAX_CPS:
        raise ValueError(f"cps must be > 0 and <= {MAX_CPS}, got {cps!r}")
    return (1000.0 + JITTER_SLACK_MS) / cps


def _problems(
    cps: float, max_live_calls: int, max_call_duration: timedelta, burst: int, path: str
) -> list[str]:
    problems = []
    if not 0 < cps <= MAX_CPS:
        problems.append(f"{path}.cps: must be > 0 and <= {MAX_CPS}, got {cps!r}")
    if max_live_calls < 1:
        problems.append(f"{path}.max_live_calls: must be at least 1, got {max_live_calls!r}")
    if max_call_duration <= timedelta(0):
        problems.append(f"{path}.max_call_duration: must be longer than 0s")
    if burst < 1:
        problems.append(f"{path}.burst: must be at least 1, got {burst!r}")
    return problems


@dataclass(frozen=True)
class PacingLimits:
    """A campaign's pacing: dial-out rate, concurrent calls, and the longest a call may last.

    Invariants (checked on construction): 0 < cps <= 1000, max_live_calls >= 1, burst >= 1,
    max_call_duration > 0. With the default burst of 1, no one-second window ever holds more than
    `cps` dial-outs (rounded up to a whole call); a burst of b admits up to b - 1 more in a
    window that follows an idle spell, never more on average.
    """

    cps: float = DEFAULT_CPS
    max_live_calls: int = DEFAULT_MAX_LIVE_CALLS
    max_call_duration: timedelta = DEFAULT_MAX_CALL_DURATION
    burst: int = DEFAULT_BURST

    def __post_init__(self) -> None:
        problems = _problems(
            self.cps, self.max_live_calls, self.max_call_duration, self.burst, "pacing"
        )
        if problems:
            raise SpecInvalid(problems)

    @property
    def interval_ms(self) -> float:
        """GCRA emission interval T for `cps`."""
        return emission_interval_ms(self.cps)

    @property
    def tolerance_ms(self) -> float:
        """GCRA delay-variation tolerance: (burst - 1) × T lets `burst` calls go at once."""
        return (self.burst - 1) * self.interval_ms

    @classmethod
    def from_dict(cls, data: object | None, path: str = "pacing") -> PacingLimits:
        """Read the spec's `pacing:` block; omitted keys (or the whole block) take the defaults.

        Every problem is reported at once as `SpecInvalid(["pacing.cps: ...", ...])`.
        """
        if data is None:
            return cls()
        problems: list[str] = []
        data = read_block(data, path, _KEYS, problems)
        if data is None:
            raise SpecInvalid(problems)
        cps = _number(data.get("cps", DEFAULT_CPS), f"{path}.cps", problems)
        live = _integer(
            data.get("max_live_calls", DEFAULT_MAX_LIVE_CALLS), f"{path}.max_live_calls", problems
        )
        burst = _integer(data.get("burst", DEFAULT_BURST), f"{path}.burst", problems)
        duration = DEFAULT_MAX_CALL_DURATION
        if "max_call_duration" in data:
            try:
                duration = parse_duration(data["max_call_duration"])
            except ValueError as exc:
                problems.append(f"{path}.max_call_duration: {exc}")
        problems += _problems(cps, live, duration, burst, path)
        if problems:
            raise SpecInvalid(problems)
        return cls(cps=cps, max_live_calls=live, max_call_duration=duration, burst=burst)

    def to_dict(self) -> dict[str, Any]:
        """The block as a spec would spell it; `from_dict(to_dict())` gives an equal value."""
        return {
            "cps": self.cps,
            "max_live_calls": self.max_live_calls,
            "max_call_duration": format_duration(self.max_call_duration),
            "burst": self.burst,
        }


def _number(value: object, path: str, problems: list[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{path}: {value!r} is not a number")
        return DEFAULT_CPS
    return float(value)


def _integer(value: object, path: str, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{path}: {value!r} is not a whole number")
        return 1
    return value


def attempt_deadline(
    dialed_at: datetime,
    *,
    ring_timeout: timedelta,
    max_call_duration: timedelta,
    amd_timers_ms: Mapping[str, int],
    margin: timedelta,
) -> datetime:
    """When an attempt that has had no final notification is declared `lost`.

    The call can ring for `ring_timeout`, then AMD may hold it for its longest timer (the timers
    run side by side, so the maximum counts, not the sum; a timer the spec leaves out runs at
    SAVG's default), then talk for up to `max_call_duration`; `margin` covers notification
    delivery and clock skew. Erring late only delays a redial; erring early frees a live-call slot
    and may redial a person who is still on the line, so every term is the worst case.
    """
    if max_call_duration < timedelta(0):
        raise ValueError("max_call_duration must not be negative")
    silent = silent_deadline(
        dialed_at, ring_timeout=ring_timeout, amd_timers_ms=amd_timers_ms, margin=margin
    )
    return silent + max_call_duration


def silent_deadline(
    dialed_at: datetime,
    *,
    ring_timeout: timedelta,
    amd_timers_ms: Mapping[str, int],
    margin: timedelta,
) -> datetime:
    """By when a placed call has said something: an attempt that heard nothing by then settles.

    A call the gateway placed is answered or rings out (jambonz cancels it with 487 at its ring
    timeout) within `ring_timeout`, and either way a notification is posted; AMD can hold the
    `answered` post for its longest timer, and `margin` covers delivery and clock skew. So an
    attempt with no notification at all by this instant was either never placed (its POST got a
    5xx or timed out) or lost every notification; holding its live-call slot until the full
    `attempt_deadline` (30 minutes more by default) would only starve the campaign.
    """
    if dialed_at.tzinfo is None:
        raise ValueError("dialed_at must be timezone-aware")
    if min(ring_timeout, margin) < timedelta(0):
        raise ValueError("ring_timeout and margin must not be negative")
    amd_ms = max({**SAVG_DEFAULT_AMD_TIMERS_MS, **amd_timers_ms}.values())
    return dialed_at + ring_timeout + timedelta(milliseconds=amd_ms) + margin


def tick_wait(previous_s: float, idle: bool, tick_interval_s: float, max_idle_s: float) -> float:
    """Seconds until the dispatcher's next tick.

    While there is work (contacts claimed, or a campaign whose broker share is full and must be
    topped up as calls end) it ticks every `tick_interval_s`. A tick that found nothing due with
    room to dial is idle: then each further idle tick doubles the wait, up to `max_idle_s`, so a
    dispatcher with nothing due costs a few ticks a second, not ten; a contact that falls due
    meanwhile (a redial, a campaign started) waits at most `max_idle_s` longer.
    """
    if not idle:
        return tick_interval_s
    return min(max(previous_s, tick_interval_s) * 2, max(max_idle_s, tick_interval_s))


TICKET_S = 5.0
"""How far ahead a dial's own rate slot may be reserved as a ticket: beyond the dispatcher's two
seconds of work ahead, so a dial waits for its slot once (a trunk shared by many campaigns may
push slots further; those dials come back when a ticket is possible)."""
TICKET_LEAD_S = 0.05
"""How early a dial holding a ticket comes back: a countdown runs a little late on a busy worker,
and the rest of the wait is slept out in place (a 200 ms lead bunched sends at the gateway)."""
RETRY_JITTER_S = 0.05
"""Spread over the retries of dials refused without a ticket, so they do not return together."""


def retry_countdown(retry_after_s: float, *, ticket: bool, rng: random.Random) -> float:
    """When a dial the limiter sent away runs again: just before its ticket's slot, or after the
    limiter's retry-after with a little jitter."""
    if ticket:
        return max(0.0, retry_after_s - TICKET_LEAD_S)
    return retry_after_s + rng.uniform(0, RETRY_JITTER_S)


@dataclass(frozen=True)
class TrunkShare:
    """What a campaign's trunk allows it in one dispatcher tick: the trunk's calls per second and
    the live-call room left on it (attempts open on it, every campaign's, counted); None where
    the trunk has no such limit."""

    cps: float | None = None
    room: int | None = None


UNLIMITED_TRUNK = TrunkShare()


def dispatch_budget(
    cps: float,
    live_calls: int,
    max_live_calls: int,
    horizon_s: float,
    queued: int,
    *,
    trunk: TrunkShare = UNLIMITED_TRUNK,
) -> int:
    """How many due contacts one dispatcher tick may claim now.

    Up to three ceilings, and the smallest wins:

    - *work ahead*: at `cps` the workers dial `cps × horizon_s` calls in the next `horizon_s`
      seconds; the broker should hold about that much, so the tick tops the `queued` attempts
      (created, not yet dialed) up to it, rounded up so a slow campaign still moves. Claiming more
      only parks contacts in the broker, where a pause, a closing window or a policy change
      cannot reach them, and makes its dial tasks poll the limiter. A trunk slower than the
      campaign sets the pace instead (each campaign sharing it may queue the trunk's
      `horizon_s` worth: a campaign whose partners have nothing due still keeps the trunk busy).
    - *capacity*: each queued attempt becomes a live call when dialed, so `live_calls + queued`
      may never pass `max_live_calls`; otherwise workers would claim calls only to wait on
      the live-call cap.
    - *trunk room*, when the campaign's trunk caps live calls: that cap minus the attempts open
      on the trunk (queued, dialing or live, of every campaign dialing through it). Each campaign
      sharing the trunk may take the whole room in one tick, so several may overshoot it by a few
      attempts, which wait on the limiter; a room that is full queues nothing, where otherwise
      every campaign kept `cps × horizon_s` dial tasks polling the full cap five times a second.

    Inputs that overshoot (live calls above a lowered cap) give 0, never a negative number.
    """
    if cps <= 0 or horizon_s <= 0 or min(live_calls, max_live_calls, queued) < 0:
        raise ValueError("cps and horizon_s must be positive; counts must not be negative")
    pace = cps if trunk.cps is None else min(cps, trunk.cps)
    work_ahead = math.ceil(Fraction(str(pace)) * Fraction(str(horizon_s))) - queued
    capacity = max_live_calls - live_calls - queued
    if trunk.room is not None:
        capacity = min(capacity, trunk.room)
    return max(0, min(work_ahead, capacity))
