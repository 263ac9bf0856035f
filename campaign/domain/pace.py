"""A campaign's pace over the last minutes: dial-outs per second and live calls, per interval.

The database sums the attempts' start (+1 at `sending_at`) and end (-1 at `ended_at`) events into
buckets of `step` seconds ending now; this module turns those sums into a gap-free series. A call
is live from its dial-out until its end, so the live level only changes at events: a bucket with
none carries the level of the one before, and a bucket's `live_calls` is its peak (the level it
entered with, or the highest it reached after any of its events), so a cap that was touched
shows even when it was let go within the interval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BucketSums:
    """What happened in one bucket: dial-outs, the net change of the live level, and the highest
    level reached right after one of its events."""

    sent: int
    delta: int
    peak: int


@dataclass(frozen=True)
class PacePoint:
    """One interval `[at - step, at)`: average dial-outs per second, peak live calls."""

    at: datetime
    calls_per_second: float
    live_calls: int


def pace_series(
    *,
    end: datetime,
    step: timedelta,
    buckets: int,
    live_before: int,
    sums: Mapping[int, BucketSums],
) -> list[PacePoint]:
    """`buckets` points, oldest first; bucket `i` covers `[end - (buckets - i) * step, ... + step)`.

    `live_before` is the live level at the start of bucket 0 (calls dialed before it, not ended
    by then). Buckets missing from `sums` had no event. A negative level (an end whose start is
    outside the data) is clamped to 0 rather than drawn below the axis.
    """
    seconds = step.total_seconds()
    if seconds <= 0 or buckets < 0:
        raise ValueError(f"step must be positive and buckets not negative: {step}, {buckets}")
    start = end - step * buckets
    level = max(live_before, 0)
    points: list[PacePoint] = []
    for index in range(buckets):
        got = sums.get(index)
        peak = level if got is None else max(level, got.peak)
        if got is not None:
            level = max(level + got.delta, 0)
        sent = 0 if got is None else got.sent
        points.append(
            PacePoint(
                at=start + step * (index + 1),
                calls_per_second=round(sent / seconds, 3),
                live_calls=max(peak, 0),
            )
        )
    return points
