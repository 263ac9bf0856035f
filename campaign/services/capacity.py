"""Live capacity figures: the Celery dial backlog, dial-out latency, configured rates, live calls.

Two readers: `campaign scale-advice` (turns them into worker counts with domain.capacity) and the
dispatcher, which exports the queue-depth and live-call gauges every sweep. Both only read.

The Celery Redis transport keeps a queue as a Redis list named exactly after the queue (no
priorities are used, so no extra lists), so LLEN is the number of tasks no worker has taken yet;
tasks a worker holds (running, or waiting on a pacing countdown) are not in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign import metrics
from campaign.db.tables import AttemptRow, CampaignRow
from campaign.domain.account import trunk_name
from campaign.domain.capacity import CampaignRate
from campaign.domain.states import ATTEMPT_LIVE, CampaignState
from campaign.runtime import Runtime
from campaign.services.event_reads import pending_events
from campaign.services.specs import load_spec

# Campaigns whose live-call gauge this process has set, so finished ones can be dropped.
_exported_campaigns: set[str] = set()


@dataclass(frozen=True)
class Latency:
    """Dial-out POST latency over a window; None when no dial-out was accepted in it."""

    p50_s: float | None
    p95_s: float | None
    samples: int


@dataclass(frozen=True)
class LiveFigures:
    """What the system is doing now, as capacity advice needs it."""

    queue: str
    queue_depth: int
    latency: Latency
    window: timedelta
    rates: tuple[CampaignRate, ...]


def running_rates(session: Session) -> list[CampaignRate]:
    """Configured cps and trunk of every running campaign (paused ones dial nothing)."""
    rows = session.execute(
        select(CampaignRow.id, CampaignRow.spec)
        .where(CampaignRow.state == CampaignState.RUNNING.value)
        .order_by(CampaignRow.id)
    )
    rates = []
    for campaign_id, stored in rows:
        spec = load_spec(stored)
        rates.append(CampaignRate(campaign_id, spec.pacing.cps, trunk_name(spec.gateway.trunk)))
    return rates


def dial_latency(session: Session, since: datetime) -> Latency:
    """p50/p95 of `attempts.dial_latency_ms` for dial-outs accepted since `since`."""
    ms = AttemptRow.dial_latency_ms
    count, p50, p95 = session.execute(
        select(
            func.count(ms),
            func.percentile_cont(0.5).within_group(ms),
            func.percentile_cont(0.95).within_group(ms),
        ).where(AttemptRow.accepted_at >= since, ms.is_not(None))
    ).one()
    return Latency(
        p50_s=None if p50 is None else p50 / 1000,
        p95_s=None if p95 is None else p95 / 1000,
        samples=count,
    )


def live_calls_by_campaign(session: Session) -> dict[int, int]:
    """Attempts holding a live-call slot (sent, accepted or answered), per campaign."""
    rows = session.execute(
        select(AttemptRow.campaign_id, func.count())
        .where(AttemptRow.state.in_([s.value for s in ATTEMPT_LIVE]))
        .group_by(AttemptRow.campaign_id)
    )
    return dict(rows.tuples().all())


def _llen(runtime: Runtime, queue: str) -> int:
    return cast(int, runtime.redis.llen(queue))  # the sync client returns int


def observe(runtime: Runtime, now: datetime, window: timedelta) -> LiveFigures:
    """Read the live figures: dial backlog from Redis, latency and rates from PostgreSQL."""
    queue = runtime.settings.queue("dial")
    depth = _llen(runtime, queue)
    with runtime.sessions() as session:
        latency = dial_latency(session, now - window)
        rates = tuple(running_rates(session))
    return LiveFigures(queue, depth, latency, window, rates)


def export_gauges(runtime: Runtime) -> None:
    """Set the queue-depth and live-call gauges (the dispatcher calls this every sweep).

    Every running or paused campaign is exported (0 when it has no call out), and so is any other
    campaign with calls still out; a campaign that is neither is dropped, so the dashboard's
    campaign list does not grow forever.
    """
    lists = [runtime.settings.queue(name) for name in ("dial", "notify", "events")]
    for name in [*lists, runtime.drains_key]:
        metrics.QUEUE_DEPTH.labels(name).set(_llen(runtime, name))
    with runtime.sessions() as session:
        live = live_calls_by_campaign(session)
        metrics.EVENTS_PENDING.set(pending_events(session))
        active = dict(
            session.execute(
                select(CampaignRow.id, CampaignRow.spec).where(
                    CampaignRow.state.in_([CampaignState.RUNNING.value, CampaignState.PAUSED.value])
                )
            )
            .tuples()
            .all()
        )
    for trunk in {load_spec(spec).gateway.trunk for spec in active.values()}:
        breaker = runtime.read_breaker(trunk)
        metrics.GATEWAY_BREAKER.labels(breaker.gateway).set(1 if breaker.open else 0)
    current = {str(c): live.get(c, 0) for c in active} | {str(c): n for c, n in live.items()}
    for gone in _exported_campaigns - current.keys():
        metrics.LIVE_CALLS.remove(gone)
    for campaign, count in current.items():
        metrics.LIVE_CALLS.labels(campaign).set(count)
    _exported_campaigns.clear()
    _exported_campaigns.update(current)
