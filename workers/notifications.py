"""The notification consumer task: drains the inbox in batches (a thin adapter over
campaign.services.notifications)."""

from __future__ import annotations

import random
import time

from campaign import metrics
from campaign.clock import utcnow
from campaign.runtime import DRAIN_TASK, Runtime
from campaign.services.notifications import drain_inbox
from workers.app import app
from workers.base import CampaignTask
from workers.runtime import runtime

BATCH = 100
_rng = random.Random()


LINGER_S = 0.1
"""How long a drain that found its share empty waits for a receiver's signal before it hands the
wake key back: finals a few tens of ms apart are then applied by one task, with no wake-up
publish in the API and no Celery task per final."""
MAX_DRAIN_S = 2.0
"""A drain hands over to a fresh task after this long (a worker's warm shutdown waits for it)."""


@app.task(name=DRAIN_TASK, base=CampaignTask, subject="drain")
def drain(shard: int | None = None) -> int:
    """Apply every waiting inbox row of `shard` (`notifications.DRAIN_SHARDS`), each in its own
    transaction; a second drain of the same shard takes other rows (SKIP LOCKED), and a
    redelivered one finds nothing left to do. No shard (a message from a release before shards
    were): every row.

    While this drain holds the share's wake key, receivers wake no task: they signal
    (`Runtime.signal_key`), and the drain, having read its share empty, waits up to `LINGER_S`
    for a signal and reads again. Then it clears the key and reads once more: a receiver that
    found the key set had committed its row before that check, so before the clear, and this
    read takes it; a receiver that finds the key clear wakes another drain. Signals only make
    rows apply sooner: none is needed for a row to be applied. None is left behind (and the
    sweeper applies any row a lost task left).
    """
    rt = runtime()
    if shard is None:
        return _read(rt, None)
    signal = rt.signal_key(shard)
    applied = 0
    until = time.monotonic() + MAX_DRAIN_S
    while True:
        rt.redis.delete(signal)  # before the read: the rows of the signals so far are committed
        applied += _read(rt, shard)
        if time.monotonic() >= until or not rt.redis.blpop([signal], timeout=LINGER_S):
            break
    rt.redis.delete(rt.wake_key(shard))
    return applied + _read(rt, shard)


def _read(rt: Runtime, shard: int | None) -> int:
    """Apply the waiting rows of `shard`, `BATCH` at a time until fewer come back; how many."""
    applied = 0
    while True:
        results = drain_inbox(
            rt.sessions, leases=rt.leases, now=utcnow, rng=_rng, limit=BATCH, shard=shard
        )
        for result in results:
            metrics.NOTIFICATIONS.labels(result.value).inc()
        applied += len(results)
        if len(results) < BATCH:
            return applied
