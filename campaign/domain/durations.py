"""Durations as operators write them in a spec: a number and a unit (`500ms`, `1.5s`, `10m`).

A bare number is refused on purpose: `30` could mean seconds or milliseconds, and a spec that
guesses wrong redials a person every 30 ms. Parsing is exact (decimal, not float), so `0.1s` is
100 ms and `format_duration(parse_duration(x))` never drifts. Weeks and months are not units:
a month has no fixed length, and `w` adds nothing `7d` does not say.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from campaign.domain.bounds import shown

_MICROSECONDS = {
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
}
# Digits bounded before Decimal sees them (its conversion is quadratic in the length): 18 whole
# digits exceed timedelta's range in every unit, and 15 decimals reach below a microsecond in days.
_DURATION = re.compile(r"([0-9]{1,18}(?:\.[0-9]{1,15})?)(ms|s|m|h|d)", re.ASCII)


def _not_a_duration(value: object) -> ValueError:
    return ValueError(f"{shown(value)} is not a duration")


def parse_duration(value: object) -> timedelta:
    """Read a non-negative duration such as `500ms`, `1.5s`, `90s`, `10m`, `4h` or `1d`.

    Raises `ValueError` whose message is exactly `"5x" is not a duration` (the value as JSON), so a
    caller can prefix the spec path and show it as is. Negative values, bare numbers, values finer
    than a microsecond and values beyond `timedelta`'s range are all refused the same way.
    """
    if not isinstance(value, str) or len(value) > 64:
        raise _not_a_duration(value)
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        raise _not_a_duration(value)
    number, unit = match.groups()
    microseconds = Decimal(number) * _MICROSECONDS[unit]
    if microseconds != microseconds.to_integral_value():
        raise _not_a_duration(value)
    try:
        return timedelta(microseconds=int(microseconds))
    except OverflowError:
        raise _not_a_duration(value) from None


def format_duration(duration: timedelta) -> str:
    """The shortest exact spelling that `parse_duration` reads back to the same value.

    Whole numbers in the largest unit that divides the value win (`90s`, not `1.5m`; `1500ms`, not
    `1.5s`), because specs are read by people and integers compare at a glance. Only a value finer
    than a millisecond falls back to a decimal count of milliseconds. Zero is `0s`.
    """
    if duration < timedelta(0):
        raise ValueError(f"{duration!r} is negative: durations in a spec are never negative")
    total = duration // timedelta(microseconds=1)
    if total == 0:
        return "0s"
    for unit, size in _MICROSECONDS.items():
        if total % size == 0:
            return f"{total // size}{unit}"
    return f"{Decimal(total) / 1000}ms"


def read_duration(value: object, path: str, errors: list[str]) -> timedelta | None:
    """`parse_duration` for spec readers that collect every problem: records `<path>: <message>`."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        errors.append(f"{path}: {exc}")
        return None
