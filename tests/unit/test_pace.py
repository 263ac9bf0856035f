"""The pace series: dial-outs per second and peak live calls per interval, gap-free."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from campaign.domain.pace import BucketSums, pace_series

END = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
STEP = timedelta(seconds=5)


def test_buckets_end_at_the_end_and_are_oldest_first() -> None:
    points = pace_series(end=END, step=STEP, buckets=3, live_before=0, sums={})
    assert [p.at for p in points] == [END - 2 * STEP, END - STEP, END]
    assert all(p.calls_per_second == 0 and p.live_calls == 0 for p in points)


def test_dial_outs_become_an_average_rate_per_interval() -> None:
    sums = {1: BucketSums(sent=12, delta=12, peak=12)}
    points = pace_series(end=END, step=STEP, buckets=2, live_before=0, sums=sums)
    assert [p.calls_per_second for p in points] == [0, 2.4]


def test_a_quiet_interval_carries_the_live_level_of_the_one_before() -> None:
    sums = {0: BucketSums(sent=4, delta=4, peak=5)}  # peaks are levels, not changes
    points = pace_series(end=END, step=STEP, buckets=3, live_before=1, sums=sums)
    assert [p.live_calls for p in points] == [5, 5, 5]


def test_live_calls_is_the_peak_so_a_touched_cap_shows() -> None:
    # 3 live at the start; up to 10 within the interval, down to 2 by its end.
    sums = {0: BucketSums(sent=7, delta=-1, peak=10), 1: BucketSums(sent=0, delta=-2, peak=1)}
    points = pace_series(end=END, step=STEP, buckets=3, live_before=3, sums=sums)
    assert [p.live_calls for p in points] == [10, 2, 0]


def test_an_interval_that_only_ends_calls_still_counts_the_level_it_entered_with() -> None:
    sums = {0: BucketSums(sent=0, delta=-4, peak=2)}
    points = pace_series(end=END, step=STEP, buckets=2, live_before=6, sums=sums)
    assert [p.live_calls for p in points] == [6, 2]


def test_a_level_below_zero_is_drawn_as_zero() -> None:
    sums = {0: BucketSums(sent=0, delta=-3, peak=-1)}
    points = pace_series(end=END, step=STEP, buckets=2, live_before=1, sums=sums)
    assert [p.live_calls for p in points] == [1, 0]


@pytest.mark.parametrize(("step", "buckets"), [(timedelta(0), 3), (STEP, -1)])
def test_a_bad_grid_is_refused(step: timedelta, buckets: int) -> None:
    with pytest.raises(ValueError, match="step must be positive"):
        pace_series(end=END, step=step, buckets=buckets, live_before=0, sums={})
