"""When a contact may be called: weekly hours in local time, blackout dates, campaign start/end.

A local range such as 09:00-20:00 on a date means the instants from the first moment the local
clock reads 09:00 that date until the first moment it reads 20:00. That one definition settles
every DST case: an opening inside a spring-forward gap (02:30 on the gap day) opens when the clock
jumps (03:00), and a fall-back overlap never opens a range twice or early, because each bound is
the *first* instant its wall time is reached. An end of 00:00 stands for 24:00.

Where a contact has several zones (a number phonenumbers maps to more than one), a call is
allowed only while every one of them is open. `next_open` walks interval edges, never minutes,
and gives up after `SEARCH_DAYS`. Day intervals are memoised per (zone, date, ranges): the
dispatcher asks for thousands of contacts that share a handful of zones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from campaign.domain import window_spec as words
from campaign.domain.blocks import read_block
from campaign.domain.window_spec import (
    ALL_DAY,
    MIDNIGHT,
    WEEKDAYS,
    Range,
    canonical_zone_name,
    merged,
)
from campaign.errors import SpecInvalid

Span = tuple[datetime, datetime]
SEARCH_DAYS = 400
_DAY = timedelta(days=1)
_KEYS = ("timezone", "fallback_timezone", "hours", "blackout", "start", "end")


def _first_instant(zone: ZoneInfo, day: date, wall: time) -> datetime:
    """The first instant (UTC) at which the clock in `zone` reads `wall` or later on `day`."""
    naive = datetime.combine(day, wall)
    early = naive.replace(tzinfo=zone).astimezone(UTC)
    if early.astimezone(zone).replace(tzinfo=None) == naive:
        return early  # the wall time exists; fold=0 is the first of two readings in an overlap
    # In a gap the answer is the transition itself, between the two readings of `naive`.
    late = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(early, late), max(early, late)
    after = hi.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):  # tz transitions fall on whole seconds
        mid = lo + (hi - lo) // 2
        if mid.astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi


@lru_cache(maxsize=65536)
def _day_spans(zone: ZoneInfo, day: date, ranges: tuple[Range, ...]) -> tuple[Span, ...]:
    spans = []
    for start, end in ranges:
        opens = _first_instant(zone, day, start)
        closes = _first_instant(zone, day + _DAY if end == MIDNIGHT else day, end)
        if opens < closes:  # a range wholly inside a gap never opens
            spans.append((opens, closes))
    return tuple(spans)


@dataclass(frozen=True)
class CallingWindow:
    """A campaign's calling window; the default value is always open.

    `hours[d]` lists the ranges of weekday d (0 = Monday), sorted and merged on construction so
    equal windows compare equal; an end of 00:00 means 24:00 and ranges never cross midnight
    (split them over two days). `blackout` holds local dates, read in each zone that applies.
    `start_at`/`end_at` bound the campaign: a call starts at or after `start_at` and ends its
    margin by `end_at`. `timezone_mode` is "contact" (each contact's own zones) or one IANA zone
    for every contact; `fallback_timezone` serves contacts with no known zone.
    """

    hours: tuple[tuple[Range, ...], ...] = (ALL_DAY,) * 7
    blackout: frozenset[date] = frozenset()
    start_at: datetime | None = None
    end_at: datetime | None = None
    timezone_mode: str = "contact"
    fallback_timezone: str = "UTC"

    def __post_init__(self) -> None:
        if len(self.hours) != 7:
            raise ValueError("hours needs one entry per weekday, Monday first")
        object.__setattr__(self, "hours", tuple(merged(day) for day in self.hours))
        for bound in (self.start_at, self.end_at):
            if bound is not None and bound.utcoffset() is None:
                raise ValueError(f"{bound!r} has no UTC offset")
        if self.start_at and self.end_at and self.start_at >= self.end_at:
            raise ValueError("start_at must be before end_at")
        for name in (self.fallback_timezone, self.timezone_mode):
            if name != "contact" and canonical_zone_name(name) != name:
                raise ValueError(f'"{name}" is not an IANA time zone')

    @classmethod
    def from_dict(cls, data: object | None, path: str = "window") -> CallingWindow:
        """Read the spec's `window:` block (None: always open); every problem is reported."""
        if data is None:
            return cls()
        problems: list[str] = []
        data = read_block(data, path, _KEYS, problems)
        if data is None:
            raise SpecInvalid(problems)
        mode = data.get("timezone", "contact")
        if mode != "contact":
            mode = words.zone(mode, f"{path}.timezone", problems, 'neither "contact" nor ')
        fallback = words.zone(
            data.get("fallback_timezone", "UTC"), f"{path}.fallback_timezone", problems
        )
        hours = words.hours(data["hours"], f"{path}.hours", problems) if "hours" in data else None
        blackout = words.blackout(data.get("blackout", []), f"{path}.blackout", problems)
        start = words.instant(data.get("start"), f"{path}.start", problems)
        end = words.instant(data.get("end"), f"{path}.end", problems)
        if start and end and start >= end:
            problems.append(f"{path}.end: must be after {path}.start")
        if problems:
            raise SpecInvalid(problems)
        return cls(
            hours=hours or (ALL_DAY,) * 7,
            blackout=blackout,
            start_at=start,
            end_at=end,
            timezone_mode=mode,
            fallback_timezone=fallback,
        )

    def to_dict(self) -> dict[str, Any]:
        """The block as a spec spells it (runs of equal days joined: `mon-fri`); round-trips."""
        hours: dict[str, str] = {}
        first = 0
        for day in range(1, 8):
            if day == 7 or self.hours[day] != self.hours[first]:
                key = WEEKDAYS[first] + (f"-{WEEKDAYS[day - 1]}" if day - 1 > first else "")
                hours[key] = (
                    ",".join(
                        f"{s:%H:%M}-{'24:00' if e == MIDNIGHT else f'{e:%H:%M}'}"
                        for s, e in self.hours[first]
                    )
                    or "closed"
                )
                first = day
        return {
            "timezone": self.timezone_mode,
            "fallback_timezone": self.fallback_timezone,
            "hours": hours,
            "blackout": [d.isoformat() for d in sorted(self.blackout)],
            "start": self.start_at.isoformat() if self.start_at else None,
            "end": self.end_at.isoformat() if self.end_at else None,
        }

    def zones_for(self, contact_zones: Sequence[str]) -> tuple[ZoneInfo, ...]:
        """The zones whose hours must all be open to call one contact; never empty."""
        if self.timezone_mode != "contact":
            return (ZoneInfo(self.timezone_mode),)
        names = dict.fromkeys(n for z in contact_zones if (n := canonical_zone_name(z)))
        return tuple(ZoneInfo(n) for n in names) or (ZoneInfo(self.fallback_timezone),)

    def is_open(
        self, at: datetime, zones: Sequence[ZoneInfo], margin: timedelta = timedelta(0)
    ) -> bool:
        """Open at `at` and without a break until `at + margin` in every zone."""
        t, need = self._instants(at, zones, margin)
        if not self._in_campaign(t, need):
            return False
        for zone in zones:
            is_open, edge = self._probe(zone, t, need, need)
            if not is_open or edge is None or edge < need:
                return False
        return True

    def next_open(
        self, at: datetime, zones: Sequence[ZoneInfo], margin: timedelta = timedelta(0)
    ) -> datetime | None:
        """The earliest instant >= `at` (in UTC) at which `is_open` holds.

        None when there is none before `end_at` or within `SEARCH_DAYS` of the search start.
        """
        t, _ = self._instants(at, zones, margin)
        if self.start_at is not None:
            t = max(t, self.start_at.astimezone(UTC))
        horizon = t + timedelta(days=SEARCH_DAYS)
        while t <= horizon and self._in_campaign(t, t + margin):
            need = t + margin
            latest_opening: datetime | None = None
            earliest_close: datetime | None = None
            for zone in zones:
                is_open, edge = self._probe(zone, t, need, horizon)
                if edge is None:
                    return None  # this zone never opens again within the horizon
                if not is_open:
                    latest_opening = max(latest_opening or edge, edge)
                else:
                    earliest_close = min(earliest_close or edge, edge)
            if latest_opening is not None:
                t = latest_opening
            elif earliest_close is not None and earliest_close < need:
                t = earliest_close  # open everywhere, but one zone closes inside the margin
            else:
                return t
        return None

    def open_until(
        self,
        at: datetime,
        zones: Sequence[ZoneInfo],
        margin: timedelta = timedelta(0),
        lookahead: timedelta = timedelta(days=8),
    ) -> datetime | None:
        """The last instant (UTC) of the unbroken run of call starts that holds `at`: `is_open`
        holds at every instant from `at` to it. None when `is_open(at)` does not hold. A run that
        lasts beyond `at + margin + lookahead` is cut there (ask again from that instant)."""
        if not self.is_open(at, zones, margin):
            return None
        t, need = self._instants(at, zones, margin)
        end = need + lookahead
        for zone in zones:
            _, edge = self._probe(zone, t, end, end)
            end = min(end, edge or end)
        if self.end_at is not None:
            end = min(end, self.end_at)
        return end - margin

    def _probe(
        self, zone: ZoneInfo, t: datetime, need: datetime, horizon: datetime
    ) -> tuple[bool, datetime | None]:
        """(True, end) if `zone` is open at t, `end` being where its open stretch ends (looked
        up no further than `need`); else (False, next opening after t, None past `horizon`)."""
        day = t.astimezone(zone).date() - _DAY  # a stretch may begin on the previous local date
        last_day = horizon.astimezone(zone).date() + _DAY
        stretch_end: datetime | None = None
        while day <= last_day:
            if day not in self.blackout:
                for opens, closes in _day_spans(zone, day, self.hours[day.weekday()]):
                    if stretch_end is None:
                        if closes <= t:
                            continue
                        if opens > t:
                            return False, opens
                    elif opens > stretch_end:
                        return True, stretch_end
                    stretch_end = closes
                    if stretch_end >= need:
                        return True, stretch_end
            elif stretch_end is not None:
                return True, stretch_end
            day += _DAY
        return stretch_end is not None, stretch_end

    def _instants(
        self, at: datetime, zones: Sequence[ZoneInfo], margin: timedelta
    ) -> tuple[datetime, datetime]:
        if at.utcoffset() is None:
            raise ValueError("at must be timezone-aware")
        if not zones:
            raise ValueError("at least one zone is needed to read local hours")
        if margin < timedelta(0):
            raise ValueError("margin must not be negative")
        t = at.astimezone(UTC)
        return t, t + margin

    def _in_campaign(self, t: datetime, need: datetime) -> bool:
        if self.start_at is not None and t < self.start_at:
            return False
        return self.end_at is None or (t < self.end_at and need <= self.end_at)
