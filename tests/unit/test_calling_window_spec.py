from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from campaign.domain.calling_window import CallingWindow
from campaign.domain.window_spec import MIDNIGHT
from campaign.errors import SpecInvalid


def problems(block: object) -> list[str]:
    with pytest.raises(SpecInvalid) as caught:
        CallingWindow.from_dict(block)
    return caught.value.errors


def test_spec_block_is_read_with_day_ranges_lists_and_several_ranges_a_day() -> None:
    window = CallingWindow.from_dict(
        {
            "timezone": "contact",
            "fallback_timezone": "America/New_York",
            "hours": {
                "mon-thu": "09:00-12:00, 13:00-18:00",
                "fri,sat": ["10:00-14:00"],
                "sun": "closed",
            },
            "blackout": ["2026-12-25"],
            "start": "2026-11-01T09:00:00-05:00",
            "end": "2026-12-31T23:00:00Z",
        }
    )
    split_day = ((time(9), time(12)), (time(13), time(18)))
    assert window.hours == (split_day,) * 4 + (((time(10), time(14)),),) * 2 + ((),)
    assert window.blackout == frozenset({date(2026, 12, 25)})
    assert window.fallback_timezone == "America/New_York"
    assert window.end_at == datetime(2026, 12, 31, 23, tzinfo=UTC)


def test_day_range_may_wrap_over_the_weekend() -> None:
    window = CallingWindow.from_dict({"hours": {"fri-mon": "10:00-12:00"}})
    assert [bool(day) for day in window.hours] == [True, False, False, False, True, True, True]


def test_24_00_ends_the_day_and_overlapping_ranges_merge() -> None:
    window = CallingWindow.from_dict({"hours": {"mon": "20:00-24:00,08:00-10:00,09:00-11:00"}})
    assert window.hours[0] == ((time(8), time(11)), (time(20), MIDNIGHT))


def test_values_yaml_reads_natively_are_accepted() -> None:
    window = CallingWindow.from_dict(
        {"blackout": [date(2026, 12, 25)], "start": datetime(2026, 11, 1, 14, tzinfo=UTC)}
    )
    assert window.blackout == frozenset({date(2026, 12, 25)})
    assert window.start_at == datetime(2026, 11, 1, 14, tzinfo=UTC)


def test_zone_names_are_stored_in_canonical_spelling() -> None:
    window = CallingWindow.from_dict({"timezone": "europe/berlin"})
    assert window.timezone_mode == "Europe/Berlin"


def test_to_dict_joins_runs_of_equal_days_and_round_trips() -> None:
    window = CallingWindow.from_dict(
        {
            "hours": {"mon-fri": "09:00-20:00", "sat": "10:00-24:00"},
            "blackout": ["2026-12-25", "2026-01-01"],
        }
    )
    spelled = window.to_dict()
    assert spelled == {
        "timezone": "contact",
        "fallback_timezone": "UTC",
        "hours": {"mon-fri": "09:00-20:00", "sat": "10:00-24:00", "sun": "closed"},
        "blackout": ["2026-01-01", "2026-12-25"],
        "start": None,
        "end": None,
    }
    assert CallingWindow.from_dict(spelled) == window


def test_every_problem_is_reported_with_its_path() -> None:
    assert problems(
        {
            "timezone": "Mars/Base",
            "fallback_timezone": "Mars/Base",
            "hours": {
                "mon-fri": "9-5",
                "sat": "22:00-02:00",
                "sun": "10:00-10:00",
                "fri": "closed",
                "xyz": "closed",
            },
            "blackout": ["2026-13-01"],
            "start": "tomorrow",
            "end": "2026-11-01T09:00",
            "hour": {},
        }
    ) == [
        "window.hour: unknown key (expected one of timezone, fallback_timezone, hours, blackout,"
        " start, end)",
        'window.timezone: "Mars/Base" is neither "contact" nor an IANA time zone',
        'window.fallback_timezone: "Mars/Base" is not an IANA time zone',
        'window.hours.mon-fri: "9-5" is not HH:MM-HH:MM',
        'window.hours.sat: "22:00-02:00" ends before it starts; to cross midnight end one day at'
        " 24:00 and start the next at 00:00",
        'window.hours.sun: "10:00-10:00" is an empty range',
        "window.hours.fri: fri is also given by mon-fri",
        "window.hours.xyz: not a day or days (mon..sun, as mon-fri or sat,sun)",
        'window.blackout[0]: "2026-13-01" is not a date (YYYY-MM-DD)',
        'window.start: "tomorrow" is not an ISO date-time with offset',
        'window.end: "2026-11-01T09:00:00" has no UTC offset (add Z or +01:00)',
    ]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            "always",
            "window: must be a mapping with keys timezone, fallback_timezone, hours,"
            " blackout, start, end",
        ),
        (
            {"hours": ["mon"]},
            'window.hours: must map days to hours, e.g. {"mon-fri": "09:00-20:00"}',
        ),
        (
            {"hours": {"mon": "closed"}},
            "window.hours: no day has calling hours; omit hours to call at any hour",
        ),
        ({"hours": {"mon": 540}}, "window.hours.mon: 540 is not HH:MM-HH:MM"),
        ({"hours": {"mon": "24:00-24:00"}}, 'window.hours.mon: "24:00-24:00" is not HH:MM-HH:MM'),
        (
            {"blackout": "2026-12-25"},
            'window.blackout: must be a list of dates, e.g. ["2026-12-25"]',
        ),
        ({"blackout": ["20261225"]}, 'window.blackout[0]: "20261225" is not a date (YYYY-MM-DD)'),
        (
            {"start": "2026-11-02T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
            "window.end: must be after window.start",
        ),
    ],
)
def test_invalid_block_is_named(block: object, message: str) -> None:
    assert problems(block) == [message]


def test_direct_construction_refuses_unknown_zone_and_naive_bounds() -> None:
    with pytest.raises(ValueError, match="IANA"):
        CallingWindow(fallback_timezone="Mars/Base")
    with pytest.raises(ValueError, match="UTC offset"):
        CallingWindow(start_at=datetime(2026, 1, 1))
