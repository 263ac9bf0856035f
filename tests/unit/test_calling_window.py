from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaign.domain.calling_window import CallingWindow
from campaign.domain.window_spec import MIDNIGHT

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
TOKYO = ZoneInfo("Asia/Tokyo")
SANTIAGO = ZoneInfo("America/Santiago")

OFFICE = CallingWindow.from_dict({"hours": {"mon-fri": "09:00-20:00", "sat": "10:00-14:00"}})


def local(
    zone: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=zone, fold=fold)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def sundays(hours: str) -> CallingWindow:
    return CallingWindow.from_dict({"hours": {"sun": hours}})


def test_omitted_window_is_always_open() -> None:
    window = CallingWindow.from_dict(None)
    at = utc(2026, 3, 8, 7, 0)
    assert window.is_open(at, [NY], margin=timedelta(days=3))
    assert window.next_open(at, [NY]) == at


def test_friday_evening_waits_for_saturday_morning() -> None:
    assert OFFICE.next_open(local(NY, 2026, 3, 6, 20, 30), [NY]) == local(NY, 2026, 3, 7, 10, 0)


def test_next_open_is_the_instant_itself_when_open() -> None:
    at = local(NY, 2026, 3, 4, 12, 34, 56)
    assert OFFICE.next_open(at, [NY]) == at


def test_close_is_exclusive() -> None:
    assert OFFICE.is_open(local(NY, 2026, 3, 4, 19, 59, 59), [NY])
    assert not OFFICE.is_open(local(NY, 2026, 3, 4, 20, 0), [NY])


# Spring forward: 02:30 does not exist on the gap day, so a 02:30 opening opens at 03:00.
@pytest.mark.parametrize(
    ("zone", "day", "opens_utc"),
    [
        (NY, date(2026, 3, 8), utc(2026, 3, 8, 7, 0)),  # 03:00 EDT
        (BERLIN, date(2026, 3, 29), utc(2026, 3, 29, 1, 0)),  # 03:00 CEST
        (SYDNEY, date(2026, 10, 4), utc(2026, 10, 3, 16, 0)),  # 03:00 AEDT
    ],
)
def test_opening_inside_spring_forward_gap_opens_when_the_clock_jumps(
    zone: ZoneInfo, day: date, opens_utc: datetime
) -> None:
    window = sundays("02:30-04:00")
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    assert window.next_open(midnight, [zone]) == opens_utc
    assert window.is_open(opens_utc, [zone])
    assert not window.is_open(opens_utc - timedelta(seconds=1), [zone])
    assert opens_utc.astimezone(zone).time() == time(3, 0)


@pytest.mark.parametrize(
    ("zone", "day", "opens_utc"),
    [
        (NY, date(2026, 11, 1), utc(2026, 11, 1, 14, 0)),  # 09:00 EST, not 09:00 EDT
        (BERLIN, date(2026, 10, 25), utc(2026, 10, 25, 8, 0)),  # 09:00 CET
        (SYDNEY, date(2026, 4, 5), utc(2026, 4, 4, 23, 0)),  # 09:00 AEST
    ],
)
def test_opening_on_fall_back_day_is_not_an_hour_early(
    zone: ZoneInfo, day: date, opens_utc: datetime
) -> None:
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    assert sundays("09:00-17:00").next_open(midnight, [zone]) == opens_utc


@pytest.mark.parametrize(
    ("zone", "second_pass"),
    [
        (NY, local(NY, 2026, 11, 1, 1, 15, fold=1)),  # 01:15 EST, after 01:15 EDT
        (BERLIN, local(BERLIN, 2026, 10, 25, 2, 15, fold=1)),  # 02:15 CET
        (SYDNEY, local(SYDNEY, 2026, 4, 5, 2, 15, fold=1)),  # 02:15 AEST
    ],
)
def test_range_ending_in_the_repeated_hour_does_not_open_twice(
    zone: ZoneInfo, second_pass: datetime
) -> None:
    window = sundays("00:00-02:30" if zone is not NY else "00:00-01:30")
    first_pass = second_pass.replace(fold=0)
    assert window.is_open(first_pass, [zone])
    assert not window.is_open(second_pass, [zone])
    assert window.next_open(second_pass, [zone]) == datetime(
        2026, second_pass.month, second_pass.day, tzinfo=zone
    ) + timedelta(days=7)


def test_range_starting_in_the_repeated_hour_opens_at_its_first_reading_and_stays_open() -> None:
    window = sundays("01:30-04:00")
    day_start = local(NY, 2026, 11, 1, 0, 0)
    assert window.next_open(day_start, [NY]) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    # The clock then reads 01:00-01:30 again; the range is one stretch of time, so still open.
    assert window.is_open(local(NY, 2026, 11, 1, 1, 10, fold=1), [NY], margin=timedelta(hours=2))


def test_day_ending_at_24_00_before_a_midnight_gap_closes_when_the_clock_jumps() -> None:
    # Santiago skips 2026-09-06 00:00-01:00: Saturday's 24:00 is the jump itself.
    window = CallingWindow.from_dict({"hours": {"sat": "22:00-24:00"}})
    assert window.is_open(utc(2026, 9, 6, 3, 59), [SANTIAGO])  # 23:59 -04
    assert not window.is_open(utc(2026, 9, 6, 4, 0), [SANTIAGO])  # 01:00 -03


def test_every_zone_must_be_open() -> None:
    at = local(NY, 2026, 3, 2, 8, 0)  # Monday
    assert OFFICE.next_open(at, [NY, LA]) == local(NY, 2026, 3, 2, 12, 0)  # 09:00 in LA
    assert OFFICE.is_open(local(NY, 2026, 3, 2, 19, 59), [NY, LA])
    assert not OFFICE.is_open(local(NY, 2026, 3, 2, 20, 0), [NY, LA])


def test_zones_whose_hours_never_overlap_never_open() -> None:
    window = CallingWindow.from_dict({"hours": {"mon-fri": "09:00-17:00"}})
    assert window.next_open(utc(2026, 1, 5), [TOKYO, NY]) is None


def test_margin_keeps_calls_from_starting_just_before_the_close() -> None:
    five = timedelta(minutes=5)
    assert OFFICE.is_open(local(NY, 2026, 3, 4, 19, 55), [NY], margin=five)
    assert not OFFICE.is_open(local(NY, 2026, 3, 4, 19, 56), [NY], margin=five)
    assert OFFICE.next_open(local(NY, 2026, 3, 4, 19, 56), [NY], margin=five) == local(
        NY, 2026, 3, 5, 9, 0
    )


def test_margin_runs_across_midnight_when_the_next_day_opens_at_00_00() -> None:
    window = CallingWindow.from_dict({"hours": {"fri": "18:00-24:00", "sat": "00:00-02:00"}})
    assert window.is_open(local(NY, 2026, 3, 6, 23, 50), [NY], margin=timedelta(hours=2))
    assert not window.is_open(local(NY, 2026, 3, 6, 23, 50), [NY], margin=timedelta(hours=3))


def test_blackout_date_is_skipped() -> None:
    window = CallingWindow.from_dict(
        {"hours": {"mon-sat": "09:00-20:00"}, "blackout": ["2026-12-25"]}
    )
    assert window.next_open(local(NY, 2026, 12, 24, 20, 30), [NY]) == local(NY, 2026, 12, 26, 9)


def test_blackout_is_read_in_each_zones_own_calendar() -> None:
    window = CallingWindow.from_dict({"blackout": ["2026-12-25"]})
    at = utc(2026, 12, 25, 3, 0)  # 22:00 on the 24th in New York, noon on the 25th in Tokyo
    assert window.is_open(at, [NY])
    assert not window.is_open(at, [TOKYO])
    assert window.next_open(at, [TOKYO]) == local(TOKYO, 2026, 12, 26)


def test_nothing_opens_before_the_campaign_starts() -> None:
    window = CallingWindow.from_dict(
        {"hours": {"mon-fri": "09:00-20:00"}, "start": "2026-03-04T15:30:00-05:00"}
    )
    assert not window.is_open(local(NY, 2026, 3, 4, 12, 0), [NY])
    assert window.next_open(local(NY, 2026, 3, 2, 12, 0), [NY]) == local(NY, 2026, 3, 4, 15, 30)


def test_nothing_opens_at_or_after_the_campaign_end() -> None:
    window = CallingWindow.from_dict(
        {"hours": {"mon-fri": "09:00-20:00"}, "end": "2026-03-04T12:00:00-05:00"}
    )
    assert window.next_open(local(NY, 2026, 3, 4, 11, 50), [NY]) == local(NY, 2026, 3, 4, 11, 50)
    assert window.next_open(local(NY, 2026, 3, 4, 11, 50), [NY], timedelta(minutes=11)) is None
    assert window.next_open(local(NY, 2026, 3, 4, 12, 0), [NY]) is None


def test_window_with_no_hours_never_opens() -> None:
    closed = CallingWindow(hours=((),) * 7)
    assert closed.next_open(utc(2026, 1, 1), [NY]) is None


def test_fixed_zone_mode_ignores_contact_zones() -> None:
    window = CallingWindow(timezone_mode="Europe/Berlin")
    assert window.zones_for(["America/New_York"]) == (BERLIN,)


def test_contact_zones_are_used_and_fall_back_when_missing_or_unknown() -> None:
    window = CallingWindow(fallback_timezone="Asia/Tokyo")
    assert window.zones_for(["America/New_York", "america/los_angeles"]) == (NY, LA)
    assert window.zones_for([]) == (TOKYO,)
    assert window.zones_for(["Mars/Base"]) == (TOKYO,)


def test_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OFFICE.is_open(datetime(2026, 3, 4, 12, 0), [NY])


# Properties over random windows, zones with awkward DST rules, and instants near transitions.

AWKWARD_ZONES = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Asia/Kolkata",
    "UTC",
]


def _transitions(name: str) -> list[datetime]:
    zone, t, found, step = ZoneInfo(name), utc(2026, 1, 1), [], timedelta(minutes=30)
    while t.year < 2027:
        if (t + step).astimezone(zone).utcoffset() != t.astimezone(zone).utcoffset():
            found.append(t + step)
        t += step
    return found or [utc(2026, 6, 1)]


TRANSITIONS = {name: _transitions(name) for name in AWKWARD_ZONES}


@st.composite
def day_hours(draw: st.DrawFn) -> tuple[tuple[time, time], ...]:
    edges = sorted(draw(st.sets(st.integers(0, 48), max_size=6)))
    ranges = []
    for start, end in zip(edges[::2], edges[1::2], strict=False):
        ranges.append(
            (
                time(start // 2, start % 2 * 30),
                MIDNIGHT if end == 48 else time(end // 2, end % 2 * 30),
            )
        )
    return tuple(ranges)


@st.composite
def windows(draw: st.DrawFn) -> CallingWindow:
    return CallingWindow(
        hours=tuple(draw(day_hours()) for _ in range(7)),
        blackout=frozenset(
            draw(st.sets(st.dates(date(2026, 1, 1), date(2027, 1, 31)), max_size=3))
        ),
        start_at=draw(st.none() | st.just(utc(2026, 3, 1))),
        end_at=draw(st.none() | st.just(utc(2026, 11, 15))),
    )


@st.composite
def zones_and_instant(draw: st.DrawFn) -> tuple[list[ZoneInfo], datetime]:
    names = draw(st.lists(st.sampled_from(AWKWARD_ZONES), min_size=1, max_size=2, unique=True))
    near = draw(st.sampled_from(TRANSITIONS[names[0]]))
    return [ZoneInfo(n) for n in names], near + timedelta(minutes=draw(st.integers(-4000, 4000)))


margins = st.sampled_from([timedelta(0), timedelta(minutes=1), timedelta(minutes=90)])


@settings(max_examples=300)
@given(windows(), zones_and_instant(), margins)
def test_next_open_is_the_earliest_open_instant_at_or_after_at(
    window: CallingWindow, zones_at: tuple[list[ZoneInfo], datetime], margin: timedelta
) -> None:
    zones, at = zones_at
    found = window.next_open(at, zones, margin)
    if found is None:
        assert not window.is_open(at, zones, margin)
        return
    assert found >= at
    assert window.is_open(found, zones, margin)
    if found > at:
        assert not window.is_open(at, zones, margin)
        assert not window.is_open(max(at, found - timedelta(seconds=1)), zones, margin)


@settings(max_examples=300)
@given(windows(), zones_and_instant())
def test_is_open_matches_the_local_clock_outside_repeated_hours(
    window: CallingWindow, zones_at: tuple[list[ZoneInfo], datetime]
) -> None:
    zone, at = zones_at[0][0], zones_at[1]
    wall = at.astimezone(zone)
    if wall.fold or wall.replace(fold=1).utcoffset() != wall.utcoffset():
        return  # in a repeated hour the clock reading alone cannot say which pass this is
    in_campaign = (window.start_at is None or at >= window.start_at) and (
        window.end_at is None or at < window.end_at
    )
    reading = wall.time().replace(tzinfo=None)
    by_clock = (
        in_campaign
        and wall.date() not in window.blackout
        and any(
            start <= reading and (end == MIDNIGHT or reading < end)
            for start, end in window.hours[wall.weekday()]
        )
    )
    assert window.is_open(at, [zone]) == by_clock


@given(windows())
def test_to_dict_round_trips(window: CallingWindow) -> None:
    if any(window.hours):
        assert CallingWindow.from_dict(window.to_dict()) == window
