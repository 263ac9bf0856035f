from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from campaign.domain.operator_times import read_time

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_duration_counts_from_now_forward_or_back() -> None:
    assert read_time("2h", now=NOW) == NOW + timedelta(hours=2)
    assert read_time(" 7d ", now=NOW, back=True) == NOW - timedelta(days=7)


def test_a_date_is_its_midnight_or_the_midnight_after_it() -> None:
    assert read_time("2026-12-31", now=NOW) == datetime(2026, 12, 31, tzinfo=UTC)
    assert read_time("2026-12-31", now=NOW, day_end=True) == datetime(2027, 1, 1, tzinfo=UTC)


def test_an_instant_keeps_its_offset() -> None:
    at = read_time("2026-12-31T18:00:00-05:00", now=NOW)
    assert at == datetime(2026, 12, 31, 18, tzinfo=timezone(timedelta(hours=-5)))


@pytest.mark.parametrize("text", ["2026-12-31T18:00:00", "soon", "", "5x"])
def test_an_instant_without_offset_or_anything_else_is_refused(text: str) -> None:
    assert read_time(text, now=NOW) is None


def test_without_a_clock_durations_are_not_accepted() -> None:
    assert read_time("2h", now=None) is None
    assert read_time("2026-12-01", now=None) == datetime(2026, 12, 1, tzinfo=UTC)
