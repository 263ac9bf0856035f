"""The forecast's clock: when calls may start for a set of zones, and which local day a moment is,
both as seconds from the forecast's `now` so the simulation does arithmetic on floats.

Nothing here decides what is open: `CallingWindow.next_open` and `open_until` do (DST-exact,
blackouts, campaign start and end); this only remembers their answers as a sorted list of spans,
extended on demand, which every Monte-Carlo run then reads with a bisection.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from campaign.domain.calling_window import CallingWindow

HORIZON_S = 400 * 86_400.0
"""How far ahead the forecast looks; work left beyond it never finishes."""
_LOOKAHEAD = timedelta(days=8)
_ALWAYS = CallingWindow()  # the default window never closes


def always_open(window: CallingWindow) -> bool:
    """Whether the window never closes (no hours, blackouts, start or end to respect)."""
    return (
        window.hours == _ALWAYS.hours
        and not window.blackout
        and window.start_at is None
        and window.end_at is None
    )


class OpenHours:
    """When a call to contacts of one zone set may start, as spans `[open, until]` in seconds
    from `now` (a call may start at any instant of a span, ring time included)."""

    def __init__(
        self,
        window: CallingWindow,
        zones: Sequence[ZoneInfo],
        margin: timedelta,
        now: datetime,
    ) -> None:
        self._window, self._zones, self._margin, self._now = window, tuple(zones), margin, now
        self._opens: list[float] = []
        self._untils: list[float] = []
        self._last = (math.inf, -math.inf)  # the span the latest question fell in
        self._covered = 0.0  # answers are known for every time before this
        self._never_after: float | None = None
        if always_open(window):
            self._opens, self._untils = [-math.inf], [math.inf]
            self._covered = math.inf

    def _instant(self, seconds: float) -> datetime:
        return self._now + timedelta(seconds=seconds)

    def _seconds(self, at: datetime) -> float:
        return (at - self._now).total_seconds()

    def _extend(self) -> None:
        """Learn the next span from the window, or that none follows."""
        opens_at = self._window.next_open(self._instant(self._covered), self._zones, self._margin)
        if opens_at is None or self._seconds(opens_at) > HORIZON_S:
            self._never_after = self._covered
            self._covered = math.inf
            return
        until_at = self._window.open_until(opens_at, self._zones, self._margin, _LOOKAHEAD)
        opens, until = self._seconds(opens_at), self._seconds(until_at or opens_at)
        if self._untils and opens <= self._untils[-1] + 1e-6:
            self._untils[-1] = until  # a run cut by the lookahead goes on
        else:
            self._opens.append(opens)
            self._untils.append(until)
        self._covered = until + 1e-6

    def span(self, t: float) -> tuple[float, float] | None:
        """The span a call may start in at `t` or next after it; None if the window never opens
        again (within the horizon)."""
        while t >= self._covered:
            self._extend()
        i = bisect_right(self._opens, t) - 1
        if i >= 0 and t <= self._untils[i]:
            return self._opens[i], self._untils[i]
        while i + 1 >= len(self._opens):
            if self._covered == math.inf:
                return None
            self._extend()
        return self._opens[i + 1], self._untils[i + 1]

    def next_open(self, t: float) -> float | None:
        """The earliest time >= `t` a call may start, or None."""
        opens, until = self._last
        if opens <= t <= until:
            return t
        found = self.span(t)
        if found is not None and found[0] <= t:
            self._last = found
        return None if found is None else max(t, found[0])

    @property
    def ends_campaign(self) -> bool:
        """Whether the last opening is cut by the campaign's end rather than by the hours."""
        return self._window.end_at is not None and self._never_after is not None


class Days:
    """Which local date (in one zone) a time in seconds from `now` falls on, and the middle of
    that day; the midnights from the start of `now`'s day on are remembered as they are met."""

    def __init__(self, zone: ZoneInfo, now: datetime) -> None:
        self._zone, self._now = zone, now
        self._first = now.astimezone(zone).date()
        self._starts = [self._seconds(self._first)]  # each local midnight, from now's day on
        self._last = (math.inf, -math.inf, self._first)  # the day the latest question fell in

    def _seconds(self, day: date) -> float:
        # A midnight a DST jump skips reads (fold=0) as the jump itself: the day's start.
        midnight = datetime.combine(day, time(0), tzinfo=self._zone).astimezone(UTC)
        return (midnight - self._now).total_seconds()

    def _index(self, t: float) -> int:
        """How many days after `now`'s day `t` falls (negative: before it)."""
        if t < self._starts[0]:
            day = (self._now + timedelta(seconds=t)).astimezone(self._zone).date()
            return (day - self._first).days
        while self._starts[-1] <= t and len(self._starts) < HORIZON_S / 86_400 + 3:
            self._starts.append(self._seconds(self._first + timedelta(days=len(self._starts))))
        return bisect_right(self._starts, t) - 1

    def of(self, t: float) -> date:
        start, end, day = self._last
        if start <= t < end:
            return day
        i = self._index(t)
        day = self._first + timedelta(days=i)
        if 0 <= i < len(self._starts) - 1:
            self._last = (self._starts[i], self._starts[i + 1], day)
        return day

    def midday(self, t: float) -> float:
        """The middle of the local day `t` falls in."""
        i = self._index(t)
        if 0 <= i < len(self._starts) - 1:
            return round((self._starts[i] + self._starts[i + 1]) / 2, 3)
        day = self._first + timedelta(days=i)
        return round((self._seconds(day) + self._seconds(day + timedelta(days=1))) / 2, 3)
