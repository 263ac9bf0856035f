"""The forecast's clock and dice: open spans read from the calling window, local days, and the
binomial draw the stdlib lacks."""

from __future__ import annotations

import random
import statistics
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaign.domain.calling_window import CallingWindow
from campaign.domain.forecast_calendar import Days, OpenHours
from campaign.domain.forecast_mix import binomial

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)  # a Friday, 07:00 in New York
WEEKDAYS = CallingWindow.from_dict({"timezone": "contact", "hours": {"mon-fri": "09:00-17:00"}})


def test_open_until_is_the_last_start_the_window_allows() -> None:
    at = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # 10:00 in New York
    margin = timedelta(seconds=30)

    until = WEEKDAYS.open_until(at, (NEW_YORK,), margin)

    assert until == datetime(2026, 3, 6, 21, 59, 30, tzinfo=UTC)  # 17:00 minus the ring time
    assert WEEKDAYS.is_open(until, (NEW_YORK,), margin)
    assert not WEEKDAYS.is_open(until + timedelta(seconds=1), (NEW_YORK,), margin)
    assert WEEKDAYS.open_until(at - timedelta(hours=2), (NEW_YORK,), margin) is None


def test_open_until_stops_at_the_campaign_end_and_at_the_lookahead() -> None:
    ending = CallingWindow(end_at=datetime(2026, 3, 6, 18, 0, tzinfo=UTC), timezone_mode="UTC")
    always = CallingWindow()
    zones = (ZoneInfo("UTC"),)

    assert ending.open_until(NOW, zones) == datetime(2026, 3, 6, 18, 0, tzinfo=UTC)
    assert always.open_until(NOW, zones, lookahead=timedelta(days=2)) == NOW + timedelta(days=2)


def test_open_hours_lists_each_opening_across_the_weekend_and_dst() -> None:
    hours = OpenHours(WEEKDAYS, (NEW_YORK,), timedelta(0), NOW)
    friday_nine = (datetime(2026, 3, 6, 14, 0, tzinfo=UTC) - NOW).total_seconds()
    # 2026-03-08 springs forward: Monday 09:00 in New York is 13:00 UTC.
    monday_nine = (datetime(2026, 3, 9, 13, 0, tzinfo=UTC) - NOW).total_seconds()

    assert hours.next_open(0.0) == friday_nine
    assert hours.span(friday_nine + 60) == (friday_nine, friday_nine + 8 * 3600)
    assert hours.next_open(friday_nine + 8 * 3600 + 1) == monday_nine
    assert hours.next_open(friday_nine + 3600) == friday_nine + 3600


def test_open_hours_answer_none_once_the_window_never_opens_again() -> None:
    ended = CallingWindow(end_at=NOW + timedelta(hours=1), timezone_mode="UTC")
    hours = OpenHours(ended, (ZoneInfo("UTC"),), timedelta(minutes=1), NOW)

    assert hours.next_open(0.0) == 0.0
    assert hours.span(0.0) == (0.0, 3540.0)
    assert hours.next_open(3600.0) is None
    assert hours.ends_campaign


def test_days_follow_the_local_calendar_through_dst() -> None:
    days = Days(NEW_YORK, NOW)
    sunday_noon_ny = (datetime(2026, 3, 8, 16, 0, tzinfo=UTC) - NOW).total_seconds()

    assert days.of(0.0) == date(2026, 3, 6)
    assert days.of(16.9 * 3600) == date(2026, 3, 6)  # midnight in New York is 05:00 UTC
    assert days.of(17.1 * 3600) == date(2026, 3, 7)
    assert days.of(sunday_noon_ny) == date(2026, 3, 8)
    assert days.of(-3600.0 * 10) == date(2026, 3, 5)  # 21:00 on Thursday in New York


@pytest.mark.parametrize(("n", "p"), [(10, 0.3), (50, 0.05), (400, 0.5), (5000, 0.9)])
def test_binomial_draws_have_the_right_mean_and_spread(n: int, p: float) -> None:
    rng = random.Random(11)
    draws = [binomial(n, p, rng) for _ in range(4000)]

    assert all(0 <= x <= n for x in draws)
    assert statistics.fmean(draws) == pytest.approx(n * p, rel=0.03, abs=0.05)
    assert statistics.pvariance(draws) == pytest.approx(n * p * (1 - p), rel=0.12)


def test_binomial_edges() -> None:
    rng = random.Random(1)
    assert binomial(0, 0.5, rng) == 0
    assert binomial(10, 0.0, rng) == 0
    assert binomial(10, 1.0, rng) == 10


def test_days_before_now_and_middays_stay_on_their_own_local_day() -> None:
    days = Days(NEW_YORK, NOW)  # Friday 07:00 in New York
    yesterday_noon = (datetime(2026, 3, 5, 17, 0, tzinfo=UTC) - NOW).total_seconds()
    sunday = (datetime(2026, 3, 8, 20, 0, tzinfo=UTC) - NOW).total_seconds()

    assert days.of(yesterday_noon) == date(2026, 3, 5)
    assert days.of(days.midday(yesterday_noon)) == date(2026, 3, 5)
    assert days.of(days.midday(0.0)) == date(2026, 3, 6)
    # Sunday 2026-03-08 has 23 hours in New York (05:00 to 04:00 UTC): its middle is 16:30 UTC.
    assert days.midday(sunday) == (datetime(2026, 3, 8, 16, 30, tzinfo=UTC) - NOW).total_seconds()
