"""The account policy's time gates for one contact, for `gates.decide` to combine with the
campaign's: hours and national holidays in the contact's local time, and the caps on calls to its
number across every campaign.

A gate answers for an instant `t`: None when it is open, else a `Hold` saying until when (the
first instant it could open, or None for never) and why. Hours and holidays are one calling
window (the region's hours, the holidays as blackout dates), so its next opening is exact across
DST and skips a holiday weekend in one step; the reason tells the two apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from campaign.domain import public_holidays
from campaign.domain.account import AccountPolicy, Compliance, Week
from campaign.domain.calling_window import CallingWindow
from campaign.domain.durations import format_duration
from campaign.domain.frequency import FrequencyCaps
from campaign.domain.reasons import Waiting
from campaign.domain.window_spec import ALL_DAY

IN_PROGRESS_RECHECK = timedelta(minutes=1)
"""How soon a contact held because its number is on a call elsewhere is looked at again."""


@dataclass(frozen=True)
class NumberFacts:
    """What the account rules read about one contact: its region (`US`, `US-FL`), its consent
    (None: not given), the placed calls to its number across the account in the last
    `account.NUMBER_HISTORY` (sorted), and whether another attempt to it is open right now."""

    region: str | None = None
    consent: bool | None = None
    calls: tuple[datetime, ...] = ()
    in_progress: bool = False


@dataclass(frozen=True)
class Hold:
    """A closed gate: open again at `until` (None: never), held for `reason` (and `detail`)."""

    until: datetime | None
    reason: Waiting
    detail: str | None = None


Gate = Callable[[datetime], Hold | None]


def consent_missing(policy: AccountPolicy, number: NumberFacts) -> bool:
    """The account requires consent and the contact has not given it."""
    return policy.compliance.require_consent and not number.consent


def local_gate(
    policy: AccountPolicy,
    number: NumberFacts,
    zones: Sequence[ZoneInfo],
    margin: timedelta,
    now: datetime,
) -> Gate | None:
    """Hours and holidays in the contact's local time; None when neither applies to it."""
    local = _local_rules(policy.compliance, number.region)
    if local is None:
        return None
    key, week, country = local
    window = _window(week, _blackout(country, now.year))

    def hours(t: datetime) -> Hold | None:
        if window.is_open(t, zones, margin):
            return None
        until = window.next_open(t, zones, margin)
        name = _holiday(country, zones, (t, t + margin))
        if name is not None:
            return Hold(until, Waiting.HOLIDAY, f"{name} ({country})")
        return Hold(until, Waiting.ACCOUNT_HOURS, key)

    return hours


def caps_gate(policy: AccountPolicy, number: NumberFacts, zone: ZoneInfo) -> Gate | None:
    """The per-number caps across every campaign (local days in `zone`); None when uncapped."""
    caps = policy.compliance.per_number
    if not caps.capped:
        return None

    def capped(t: datetime) -> Hold | None:
        broken = caps.broken(number.calls, t, zone)
        if broken is None:
            return None
        until = caps.earliest(number.calls, t, zone)[0]
        return Hold(until, Waiting.ACCOUNT_CAP, _cap_detail(caps, broken[0]))

    return capped


def _local_rules(compliance: Compliance, region: str | None) -> tuple[str, Week, str | None] | None:
    """(hours key, weekly hours, holiday country) for a contact of `region`; None if neither
    hours nor holidays apply to it."""
    hours = compliance.hours_for(region)
    country = region[:2] if region else None
    holidays = country if country in compliance.holidays else None
    if hours is None and holidays is None:
        return None
    key, week = hours if hours is not None else ("", (ALL_DAY,) * 7)
    return key, week, holidays


def _blackout(country: str | None, year: int) -> frozenset[date]:
    if country is None:
        return frozenset()
    return public_holidays.dates(country, public_holidays.around(year))


@lru_cache(maxsize=256)
def _window(week: Week, blackout: frozenset[date]) -> CallingWindow:
    return CallingWindow(hours=week, blackout=blackout)


def _holiday(
    country: str | None, zones: Sequence[ZoneInfo], instants: Sequence[datetime]
) -> str | None:
    if country is None:
        return None
    for zone in zones:
        for t in instants:
            name = public_holidays.holiday_on(country, t.astimezone(zone).date())
            if name is not None:
                return name
    return None


def _cap_detail(caps: FrequencyCaps, cap: str) -> str:
    if cap == "per_day":
        return f"{_calls(caps.per_day)} today to this number"
    if cap == "per_week":
        return f"{_calls(caps.per_week)} in 7 days to this number"
    gap = format_duration(caps.min_gap) if caps.min_gap is not None else "0s"
    return f"min_gap {gap} since the last call to this number"


def _calls(n: int | None) -> str:
    return "1 call" if n == 1 else f"{n} calls"
