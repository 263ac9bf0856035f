"""A campaign's pace over the last minutes, from its attempts in PostgreSQL (the truth).

One query reads the attempts that were live at the window's start or sent inside it, turns each
into a start event (+1 at `sending_at`) and, once it ended, an end event (-1 at `ended_at`), keeps
a running sum in time order (an end sorts before a start at the same instant: they don't meet),
and sums per bucket. Only a few hundred rows per bucket-series come back whatever the campaign's
size; `domain.pace` makes the series gap-free. The configured limits come from the stored spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from campaign.domain.pace import BucketSums, PacePoint, pace_series
from campaign.domain.states import ATTEMPT_LIVE
from campaign.services.campaigns import get_campaign_row

_LIVE = sorted(state.value for state in ATTEMPT_LIVE)

# Attempts in a live state have no end yet; any other attempt ended at `ended_at` (or, for one
# that never recorded it, at once: it holds no slot). Bucket -1 collects what came before `start`.
_SUMS = text(
    """
    WITH recent AS (
        SELECT sending_at AS s,
               CASE WHEN state = ANY(:live) THEN NULL
                    ELSE coalesce(ended_at, sending_at) END AS e
        FROM attempts
        WHERE campaign_id = :campaign_id
          AND sending_at IS NOT NULL AND sending_at < :end
          AND (state = ANY(:live) OR coalesce(ended_at, sending_at) > :start)
    ), events AS (
        SELECT s AS at, 1 AS d FROM recent
        UNION ALL
        SELECT e, -1 FROM recent WHERE e IS NOT NULL AND e < :end
    ), running AS (
        SELECT at, d, sum(d) OVER (ORDER BY at, d ROWS UNBOUNDED PRECEDING) AS level
        FROM events
    )
    SELECT CASE WHEN at < :start THEN -1
                ELSE floor(extract(epoch FROM at - :start) / :step)::int END AS bucket,
           count(*) FILTER (WHERE d = 1) AS sent,
           sum(d) AS delta,
           max(level) AS peak
    FROM running
    GROUP BY 1
    """
)


@dataclass(frozen=True)
class Pace:
    """The series and the limits it is drawn against."""

    campaign_id: int
    step_s: float
    cps_limit: float
    max_live_calls: int
    points: list[PacePoint]


def campaign_pace(
    session: Session, campaign_id: int, *, now: datetime, window: timedelta, step: timedelta
) -> Pace:
    """Dial-outs per second and peak live calls per `step` over the last `window` before `now`."""
    campaign = get_campaign_row(session, campaign_id)
    buckets = max(1, int(window / step))
    start = now - step * buckets
    rows = session.execute(
        _SUMS,
        {
            "campaign_id": campaign_id,
            "live": _LIVE,
            "start": start,
            "end": now,
            "step": step.total_seconds(),
        },
    )
    sums: dict[int, BucketSums] = {}
    live_before = 0
    for bucket, sent, delta, peak in rows:
        if bucket < 0:
            live_before = int(delta)
        elif bucket < buckets:
            sums[int(bucket)] = BucketSums(int(sent), int(delta), int(peak))
    pacing = campaign.spec.get("pacing") or {}
    return Pace(
        campaign_id=campaign_id,
        step_s=step.total_seconds(),
        cps_limit=float(pacing.get("cps") or 0),
        max_live_calls=int(pacing.get("max_live_calls") or 0),
        points=pace_series(end=now, step=step, buckets=buckets, live_before=live_before, sums=sums),
    )
