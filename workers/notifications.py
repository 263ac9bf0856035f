"""The notification consumer: drains the inbox in batches (a thin adapter over
campaign.services.notifications).

The worker's drain threads (`workers.drainers`) call `drain` directly, woken through Redis. It
stays a Celery task too, for the drain messages an API of an earlier release publishes on the
notify queue during a rolling upgrade."""

from __future__ import annotations

import random

from campaign import metrics
from campaign.clock import utcnow
from campaign.runtime import DRAIN_TASK
from campaign.services.notifications import drain_share
from workers.app import app
from workers.base import CampaignTask
from workers.runtime import runtime

BATCH = 100
_rng = random.Random()


@app.task(name=DRAIN_TASK, base=CampaignTask, subject="drain")
def drain(shard: int | None = None) -> int:
    """Apply every waiting inbox row of `shard` (`notifications.DRAIN_SHARDS`), each in its own
    transaction, holding the share's wake key (`notifications.drain_share`); a second drain of
    the same shard takes other rows (SKIP LOCKED), and a repeated one finds nothing left to do.
    No shard (a message from a release before shards were): every row."""
    rt = runtime()
    results = drain_share(
        rt.sessions, rt, shard, leases=rt.leases, now=utcnow, rng=_rng, batch=BATCH
    )
    for result in results:
        metrics.NOTIFICATIONS.labels(result.value).inc()
    return len(results)
