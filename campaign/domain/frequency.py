"""Frequency caps on calls to one number: `min_gap`, `per_day` and `per_week`.

One definition serves a campaign's retry policy (the contact's dials within that campaign) and
the account policy (every call to the number, whatever the campaign), so the two can never
disagree on what "3 a day" means:
- `per_day` counts calls in the number's local calendar day (days of 23 or 25 hours included);
- `per_week` counts calls in the rolling 168 hours before the candidate instant;
- `min_gap` is the time since the latest call. A call exactly `min_gap` or exactly 7 days later
  is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from campaign.domain.durations import format_duration, read_duration
from campaign.domain.retry_rules import count

WEEK = timedelta(days=7)
KEYS = ("per_day", "per_week", "min_gap")


@dataclass(frozen=True)
class FrequencyCaps:
    """Caps on calls to one number; None leaves a cap off."""

    per_day: int | None = None
    per_week: int | None = None
    min_gap: timedelta | None = None

    def __post_init__(self) -> None:
        # A cap of 0 would make `earliest` search forever.
        if any(cap is not None and cap < 1 for cap in (self.per_day, self.per_week)):
            raise ValueError("per_day and per_week must be at least 1")
        if self.min_gap is not None and self.min_gap < timedelta(0):
            raise ValueError("min_gap must not be negative")

    @classmethod
    def read(cls, data: Mapping[str, Any], path: str, errors: list[str]) -> FrequencyCaps:
        """The caps of a block already read as a mapping; problems are appended as `path.key: …`."""
        per_day = count(data.get("per_day"), f"{path}.per_day", errors, None)
        per_week = count(data.get("per_week"), f"{path}.per_week", errors, None)
        min_gap = None
        if data.get("min_gap") is not None:
            min_gap = read_duration(data["min_gap"], f"{path}.min_gap", errors)
        return cls(per_day, per_week, min_gap)

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_day": self.per_day,
            "per_week": self.per_week,
            "min_gap": None if self.min_gap is None else format_duration(self.min_gap),
        }

    @property
    def capped(self) -> bool:
        """Whether any cap reads past calls (callers skip loading them if not)."""
        return bool(self.per_day or self.per_week or self.min_gap)

    def earliest(
        self, calls: Sequence[datetime], at: datetime, zone: ZoneInfo
    ) -> tuple[datetime, str | None]:
        """The earliest instant ≥ `at` (UTC) at which every cap holds, and the last cap that held
        the call back (None when `at` itself is allowed). `calls` are sorted, oldest first.

        Each step jumps to the first instant the broken cap could allow, never past an allowed one,
        and strictly forward; past the last call + 7 days + min_gap nothing is broken.
        """
        t, held_by = at.astimezone(UTC), None
        while (step := self.broken(calls, t, zone)) is not None:
            held_by, t = step
        return t, held_by

    def broken(
        self, calls: Sequence[datetime], t: datetime, zone: ZoneInfo
    ) -> tuple[str, datetime] | None:
        """The first cap a call at `t` would break, and the instant it allows one again."""
        if self.min_gap is not None and calls and t < calls[-1] + self.min_gap:
            return "min_gap", (calls[-1] + self.min_gap).astimezone(UTC)
        if self.per_day is not None:
            day = t.astimezone(zone).date()
            if sum(1 for d in calls if d.astimezone(zone).date() == day) >= self.per_day:
                # fold=0 on a midnight skipped by DST means the transition itself: the day's start.
                next_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
                return "per_day", next_day.astimezone(UTC)
        if self.per_week is not None:
            recent = [d for d in calls if d > t - WEEK]
            if len(recent) >= self.per_week:
                return "per_week", (recent[-self.per_week] + WEEK).astimezone(UTC)
        return None
