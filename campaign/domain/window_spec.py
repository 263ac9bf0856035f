"""The words of a `window:` block: weekday names, HH:MM-HH:MM ranges, dates, zones, instants.

Reading them is kept apart from `calling_window` (what the hours mean across DST) so each stays
small; every problem is appended as `<path>: <message>` for the spec's one-pass report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import available_timezones

Range = tuple[time, time]
MIDNIGHT = time(0)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAY: tuple[Range, ...] = ((MIDNIGHT, MIDNIGHT),)
_RANGE = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)", re.ASCII)
_DATE = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def canonical_zone_name(name: str) -> str | None:
    """The tz database's spelling of `name` (matched case-insensitively), or None if unknown."""
    return _zone_names().get(name.strip().lower())


def merged(ranges: Sequence[Range]) -> tuple[Range, ...]:
    """Sorted, with overlapping or touching ranges joined, so equal hours compare equal."""
    out: list[Range] = []
    for start, end in sorted(ranges, key=lambda r: (r[0], r[1] == MIDNIGHT, r[1])):
        if end != MIDNIGHT and end <= start:
            raise ValueError(f"range {start}-{end} is empty or crosses midnight")
        if start.second or start.microsecond or end.second or end.microsecond:
            raise ValueError(f"range {start}-{end} is not in whole minutes")
        if out and (out[-1][1] == MIDNIGHT or start <= out[-1][1]):
            last_end = out[-1][1]
            wider = MIDNIGHT if MIDNIGHT in (last_end, end) else max(last_end, end)
            out[-1] = (out[-1][0], wider)
        else:
            out.append((start, end))
    return tuple(out)


def _shown(value: object) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def zone(value: object, path: str, problems: list[str], lead: str = "") -> str:
    name = canonical_zone_name(value) if isinstance(value, str) else None
    if name is None:
        problems.append(f"{path}: {_shown(value)} is {lead or 'not '}an IANA time zone")
        return "UTC"
    return name


def _days(key: str) -> list[int] | None:
    days: list[int] = []
    for part in key.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            return None
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        days += [(a + i) % 7 for i in range((b - a) % 7 + 1)]  # "fri-mon" wraps the weekend
    return days


def ranges(value: object, path: str, problems: list[str]) -> tuple[Range, ...]:
    """HH:MM-HH:MM ranges (one, a comma-separated list, or a list; "closed" for none)."""
    parts = value if isinstance(value, list) else [value]
    if parts == ["closed"]:
        return ()
    out: list[Range] = []
    for part in parts:
        for piece in part.split(",") if isinstance(part, str) else [part]:
            text = piece.strip() if isinstance(piece, str) else None
            match = _RANGE.fullmatch(text) if text else None
            h1, m1, h2, m2 = (int(g) for g in match.groups()) if match else (99, 0, 0, 0)
            if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
                problems.append(f"{path}: {_shown(piece)} is not HH:MM-HH:MM")
            elif (h2, m2) == (h1, m1):
                problems.append(f"{path}: {_shown(piece)} is an empty range")
            elif (h2 % 24, m2) != (0, 0) and (h2, m2) < (h1, m1):
                problems.append(
                    f"{path}: {_shown(piece)} ends before it starts; to cross "
                    "midnight end one day at 24:00 and start the next at 00:00"
                )
            else:
                out.append((time(h1, m1), time(h2 % 24, m2)))
    return tuple(out)


def hours(value: object, path: str, problems: list[str]) -> tuple[tuple[Range, ...], ...]:
    if not isinstance(value, Mapping):
        problems.append(f'{path}: must map days to hours, e.g. {{"mon-fri": "09:00-20:00"}}')
        return (ALL_DAY,) * 7
    week: list[tuple[Range, ...]] = [()] * 7
    given_by: dict[int, str] = {}
    for key, day_ranges in value.items():
        days = _days(key) if isinstance(key, str) else None
        if days is None:
            problems.append(f"{path}.{key}: not a day or days (mon..sun, as mon-fri or sat,sun)")
            continue
        parsed = ranges(day_ranges, f"{path}.{key}", problems)
        for day in days:
            if day in given_by:
                problems.append(f"{path}.{key}: {WEEKDAYS[day]} is also given by {given_by[day]}")
            given_by[day] = key
            week[day] = parsed
    if not problems and not any(week):
        problems.append(f"{path}: no day has calling hours; omit hours to call at any hour")
    return tuple(merged(day) for day in week)


def _date(item: object) -> date | None:
    if isinstance(item, date) and not isinstance(item, datetime):
        return item  # YAML reads an unquoted 2026-12-25 as a date
    if isinstance(item, str) and _DATE.fullmatch(item):
        try:
            return date.fromisoformat(item)
        except ValueError:
            return None
    return None


def blackout(value: object, path: str, problems: list[str]) -> frozenset[date]:
    if not isinstance(value, list):
        problems.append(f'{path}: must be a list of dates, e.g. ["2026-12-25"]')
        return frozenset()
    dates: set[date] = set()
    for i, item in enumerate(value):
        day = _date(item)
        if day is None:
            problems.append(f"{path}[{i}]: {_shown(item)} is not a date (YYYY-MM-DD)")
        else:
            dates.add(day)
    return frozenset(dates)


def instant(value: object, path: str, problems: list[str]) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else None  # YAML reads unquoted timestamps
    if isinstance(value, str):
        with suppress(ValueError):
            moment = datetime.fromisoformat(value)
    if moment is None:
        problems.append(f"{path}: {_shown(value)} is not an ISO date-time with offset")
    elif moment.utcoffset() is None:
        problems.append(f'{path}: "{moment.isoformat()}" has no UTC offset (add Z or +01:00)')
        return None
    return moment
