"""Caller-ID pools: which of the spec's `gateway.caller` numbers a dial-out shows.

`gateway.caller` is one string (any caller the gateway takes, as before) or a list of E.164
numbers. `gateway.caller_strategy` orders the pool for each dial:

- `round_robin` (default): the pool rotated by a turn that counts the campaign's dials (shared by
  every worker), so each caller takes an equal share;
- `local_presence`: callers near the contact first, by phonenumbers' own facts: the same area
  code (`length_of_geographical_area_code`: NANP's 3 digits, London's 20, Berlin's 30; none for
  mobiles or for plans without area codes such as Spain's), then the same region as its time
  zones say (`time_zones_for_number`: a 415 number and a 310 number are both
  America/Los_Angeles; Sydney and Perth differ), then the same country
  (`region_code_for_number`: US and CA are both +1); each tier rotated by the turn, and the rest
  of the pool after them, so a contact with no local caller still gets round robin.
  Not the geocoder's place names: importing `phonenumbers.geocoder` costs about 100 MB of memory
  in every process, and its names mix cities and states (`New York, NY`, `Kentucky`).

`gateway.max_calls_per_day` (optional) caps each caller of the pool at that many calls per day of
the campaign (`day_zone`); the first caller of the order with room is used, and when every one is
full the dial waits for the next day. The order is pure and cheap; the count lives in Redis
(`campaign.caller_counts`) and is rebuilt from the attempts table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number

STRATEGIES = ("round_robin", "local_presence")
MAX_CALLERS = 1000
"""A pool larger than this is a pasted contacts list, not caller IDs."""
MAX_CALLS_PER_DAY = 1_000_000


@dataclass(frozen=True)
class Caller:
    """One number of the pool and where it is (empty: not known)."""

    number: str
    country: str = ""
    area: str = ""
    zones: tuple[str, ...] = ()


def locate(number: str) -> Caller:
    """The country, area code and time zones of an E.164 `number` (empty when unknown)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except NumberParseException:
        return Caller(number)
    if not phonenumbers.is_valid_number(parsed):
        return Caller(number)
    country = phonenumbers.region_code_for_number(parsed) or ""
    national = phonenumbers.national_significant_number(parsed)
    area = national[: phonenumbers.length_of_geographical_area_code(parsed)]
    zones = tuple(z for z in time_zones_for_number(parsed) if z != UNKNOWN_TIMEZONE)
    return Caller(number, country, area, zones)


@dataclass(frozen=True)
class CallerPool:
    """The callers a campaign dials with, in spec order, and how one is chosen."""

    callers: tuple[Caller, ...]
    strategy: str = "round_robin"
    max_calls_per_day: int | None = None
    listed: bool = False  # the spec wrote a list (echoed as one)

    @property
    def numbers(self) -> tuple[str, ...]:
        return tuple(c.number for c in self.callers)

    @property
    def needs_turn(self) -> bool:
        """Only a pool of several callers rotates."""
        return len(self.callers) > 1

    def ranked(self, phone: str, turn: int) -> tuple[str, ...]:
        """Every caller, best first, for a dial to `phone` on the campaign's `turn`-th dial."""
        if self.strategy != "local_presence":
            return _rotated(self.numbers, turn)
        contact = locate(phone)
        tiers: list[list[str]] = [[], [], [], []]
        for caller in self.callers:
            tiers[_distance(contact, caller)].append(caller.number)
        return tuple(n for tier in tiers for n in _rotated(tuple(tier), turn))

    def to_dict(self) -> dict[str, object]:
        """The gateway keys as a spec spells them; a single string caller echoes as before."""
        if not self.listed and self.strategy == "round_robin" and self.max_calls_per_day is None:
            return {"caller": self.callers[0].number}
        return {
            "caller": list(self.numbers) if self.listed else self.callers[0].number,
            "caller_strategy": self.strategy,
            "max_calls_per_day": self.max_calls_per_day,
        }


def _distance(contact: Caller, caller: Caller) -> int:
    """0: same area code, 1: same time zones, 2: same country, 3: elsewhere."""
    if not contact.country or caller.country != contact.country:
        return 3
    if contact.area and caller.area == contact.area:
        return 0
    if contact.zones and caller.zones == contact.zones:
        return 1
    return 2


def _rotated(numbers: tuple[str, ...], turn: int) -> tuple[str, ...]:
    if not numbers:
        return ()
    at = turn % len(numbers)
    return numbers[at:] + numbers[:at]


def _e164(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = phonenumbers.parse(value, None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    formatted = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    return formatted if formatted == value.strip() else None


def _listed(value: list[object], errors: list[str]) -> tuple[Caller, ...]:
    if not value:
        errors.append("gateway.caller: an empty list; give at least one number")
    if len(value) > MAX_CALLERS:
        errors.append(f"gateway.caller: {len(value)} numbers, at most {MAX_CALLERS}")
        return ()
    callers: list[Caller] = []
    for i, item in enumerate(value):
        number = _e164(item)
        if number is None:
            errors.append(
                f'gateway.caller[{i}]: "{item}" is not an E.164 number (+ and the full number, '
                "digits only, e.g. +12706165788)"
            )
        elif any(c.number == number for c in callers):
            errors.append(f'gateway.caller[{i}]: "{item}" is listed twice')
        else:
            callers.append(locate(number))
    return tuple(callers)


def parse_callers(block: Mapping[str, object], errors: list[str]) -> CallerPool | None:
    """The pool of a spec's gateway block; problems appended to `errors` as `path: message`.

    A missing `caller` is reported by the gateway block itself (it is required).
    """
    before = len(errors)
    raw = block.get("caller")
    strategy = block.get("caller_strategy", "round_robin")
    if strategy not in STRATEGIES:
        allowed = ", ".join(STRATEGIES)
        errors.append(f'gateway.caller_strategy: "{strategy}" is not one of {allowed}')
    cap = block.get("max_calls_per_day")
    if cap is not None and (
        isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_CALLS_PER_DAY
    ):
        errors.append(
            f'gateway.max_calls_per_day: "{cap}" is not a whole number from 1 to '
            f"{MAX_CALLS_PER_DAY} (one cap for each caller of the pool)"
        )
    if isinstance(raw, list):
        callers = _listed(raw, errors)
    elif isinstance(raw, str | int) and not isinstance(raw, bool) and str(raw).strip():
        callers = (locate(str(raw).strip()),)
    else:
        if raw is not None:
            errors.append("gateway.caller: must be a non-empty string or a list of E.164 numbers")
        return None
    if len(errors) > before:
        return None
    return CallerPool(
        callers=callers,
        strategy=str(strategy),
        max_calls_per_day=cap if isinstance(cap, int) else None,
        listed=isinstance(raw, list),
    )


def day_zone(window_timezone: str, fallback_timezone: str) -> ZoneInfo:
    """The zone a caller's day is counted in: the window's zone when it names one, else its
    fallback (a window read in each contact's own zone has no single day)."""
    return ZoneInfo(fallback_timezone if window_timezone == "contact" else window_timezone)


def caller_day(now: datetime, zone: ZoneInfo) -> date:
    """The day `now` counts toward."""
    return now.astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of `day` in `zone`, in UTC (a DST day is 23 or 25 hours long)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
