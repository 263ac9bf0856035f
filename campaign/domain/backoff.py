"""Redial delay schedules: an explicit list, or `base × factor^n` capped at `cap`.

Jitter is a ±fraction of the scheduled delay (`delay × (1 + U(-jitter, +jitter))`), not AWS-style
"full jitter" (`U(0, delay)`). Full jitter suits clients hammering one server, where only the
spread matters; here the delay is an operator's promise to a person ("call back in 10 minutes"),
so it must stay near the number written in the spec. A ±fraction still spreads the thousands of
contacts that failed together (a gateway outage) over a window instead of one burst on its return.
The randomness comes from an injected `random.Random`, so a test fixes it with a seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from campaign.domain.blocks import read_block
from campaign.domain.durations import format_duration, read_duration

DEFAULT_FACTOR = 2.0
DEFAULT_CAP = timedelta(days=1)
SPEC_KEYS = ("base", "factor", "max", "jitter")
_MILLISECOND = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Backoff:
    """One outcome class's delay schedule; build it with `fixed()` or `exponential()`.

    Invariants (checked on construction): exactly one form is set; delays are non-negative;
    `factor >= 1` and `base <= cap`, so the exponential form never shrinks nor overflows;
    `0 <= jitter < 1`, and only the exponential form has jitter: an explicit list is the
    operator's exact schedule, and the spec has no place to write jitter beside it.
    """

    delays: tuple[timedelta, ...] = ()
    base: timedelta | None = None
    factor: float = 2.0
    cap: timedelta | None = None
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if bool(self.delays) == (self.base is not None):
            raise ValueError("a backoff is either a list of delays or a base, not both or neither")
        if any(d < timedelta(0) for d in self.delays):
            raise ValueError("delays must not be negative")
        if self.base is not None:
            if self.cap is None or self.base < timedelta(0) or self.cap < self.base:
                raise ValueError("an exponential backoff needs 0 <= base <= cap")
            if not self.factor >= 1:
                raise ValueError("factor must be at least 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be at least 0 and less than 1")
        if self.jitter and self.base is None:
            raise ValueError("only an exponential backoff has jitter")

    @classmethod
    def fixed(cls, delays: tuple[timedelta, ...]) -> Backoff:
        """Delays in order of retry; past the end of the list the last delay repeats."""
        return cls(delays=delays)

    @classmethod
    def exponential(
        cls, base: timedelta, cap: timedelta, factor: float = 2.0, jitter: float = 0.0
    ) -> Backoff:
        """`base × factor^n`, never more than `cap` (jitter included)."""
        return cls(base=base, cap=cap, factor=factor, jitter=jitter)

    @classmethod
    def from_spec(cls, rule: Mapping[Any, Any], path: str, errors: list[str]) -> Backoff | None:
        """Read one outcome rule's schedule: its `delays` list or its `backoff` block.

        Problems are appended to `errors` as `<path>.<key>: <message>` (the caller reports a whole
        spec at once) and None is returned. In a `backoff` block `factor` defaults to 2, `jitter`
        to 0 and `max` to 1d (or to `base` when that is longer); `base` is required.
        """
        if ("delays" in rule) == ("backoff" in rule):
            errors.append(f"{path}: give exactly one of delays or backoff")
            return None
        if "delays" in rule:
            return _read_delays(rule["delays"], f"{path}.delays", errors)
        return _read_exponential(rule["backoff"], f"{path}.backoff", errors)

    def to_spec(self) -> dict[str, Any]:
        """`{"delays": [...]}` or `{"backoff": {...}}` with every default filled in."""
        if self.base is None or self.cap is None:
            return {"delays": [format_duration(d) for d in self.delays]}
        return {
            "backoff": {
                "base": format_duration(self.base),
                "factor": self.factor,
                "max": format_duration(self.cap),
                "jitter": self.jitter,
            }
        }

    def delay(self, n: int, rng: random.Random) -> timedelta:
        """Delay before retry `n` (0-based: the first retry of this outcome class is `n=0`).

        `rng` is drawn from only when `jitter > 0`. Jittered delays are rounded to the millisecond.
        """
        if n < 0:
            raise ValueError(f"retry index must not be negative, got {n}")
        if self.base is None or self.cap is None:
            return self.delays[min(n, len(self.delays) - 1)]
        scheduled = _grown(self.base, self.factor, self.cap, n)
        if self.jitter == 0:
            return scheduled
        milliseconds = round(
            scheduled / _MILLISECOND * (1 + rng.uniform(-self.jitter, self.jitter))
        )
        return min(milliseconds, self.cap // _MILLISECOND) * _MILLISECOND


def _grown(base: timedelta, factor: float, cap: timedelta, n: int) -> timedelta:
    if base == timedelta(0):
        return base
    # Compare in log space: factor**n overflows a float long before n reaches max_attempts.
    if n * math.log(factor) >= math.log(cap / base):
        return cap
    return min(base * factor**n, cap)


def _read_delays(data: object, path: str, errors: list[str]) -> Backoff | None:
    if not isinstance(data, list) or not data:
        errors.append(f"{path}: must be a non-empty list of durations")
        return None
    delays = [read_duration(value, f"{path}[{i}]", errors) for i, value in enumerate(data)]
    valid = tuple(d for d in delays if d is not None)
    return Backoff.fixed(valid) if len(valid) == len(delays) else None


def _read_exponential(data: object, path: str, errors: list[str]) -> Backoff | None:
    before = len(errors)
    data = read_block(data, path, SPEC_KEYS, errors)
    if data is None:
        return None
    base = None
    if data.get("base") is None:
        errors.append(f"{path}.base: required, a duration such as 1m")
    else:
        base = read_duration(data["base"], f"{path}.base", errors)
    factor = _read_number(data.get("factor"), f"{path}.factor", errors, DEFAULT_FACTOR, 1, None)
    jitter = _read_number(data.get("jitter"), f"{path}.jitter", errors, 0.0, 0, 1)
    cap = None
    if data.get("max") is not None:
        cap = read_duration(data["max"], f"{path}.max", errors)
        if base is not None and cap is not None and cap < base:
            errors.append(f"{path}.max: must not be less than base ({format_duration(base)})")
    elif base is not None:
        cap = max(base, DEFAULT_CAP)
    if base is None or cap is None or len(errors) > before:
        return None
    return Backoff.exponential(base, cap, factor, jitter)


def _read_number(
    value: object, path: str, errors: list[str], default: float, low: float, high: float | None
) -> float:
    """A finite number in [low, high) (unbounded above when high is None); null means default."""
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < low
        or (high is not None and value >= high)
    ):
        upper = "" if high is None else f" and less than {high:g}"
        errors.append(f"{path}: must be a number of at least {low:g}{upper}")
        return default
    return float(value)
