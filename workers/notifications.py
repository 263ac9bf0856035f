"""The notification consumer task: drains the inbox in batches (a thin adapter over
campaign.services.notifications)."""

from __future__ import annotations

import random
import time

from campaign import metrics
from campaign.clock import utcnow
from campaign.runtime import DRAIN_TASK, WAKE_TTL_MS, Runtime
from campaign.services.notifications import drain_inbox
from workers.app import app
from workers.base import CampaignTask
from workers.runtime import runtime

BATCH = 100
MAX_DRAIN_S = 2.0
"""How long one drain keeps its share's key while rows keep coming."""
_rng = random.Random()


@app.task(name=DRAIN_TASK, base=CampaignTask, subject="drain")
def drain(shard: int | None = None) -> int:
    """Apply every waiting inbox row of `shard` (`notifications.DRAIN_SHARDS`), each in its own
    transaction; a second drain of the same shard takes other rows (SKIP LOCKED), and a
    redelivered one finds nothing left to do. No shard (a message from a release before shards
    were): every row.

    The shard's wake key stays set while this drain reads, so rows stored meanwhile are taken
    here rather than each waking a task of its own (under load one drain applies a stream of
    finals, for one task and one wake-up publish in the API). After each read the key is cleared
    and the shard read once more: a receiver that found the key set had committed its row before
    that check, so before the clear, and this read takes it; a receiver that finds the key clear
    wakes another drain, so a share under load gets a second consumer instead of a queue behind
    one. When that read found rows the drain takes the key back and goes on, unless a receiver
    took it first (its drain goes on) or `MAX_DRAIN_S` has passed (a worker's warm shutdown never
    waits on a stream). None is left behind (and the sweeper applies any row a lost task left).
    """
    rt = runtime()
    applied = _read(rt, shard)
    if shard is None:
        return applied
    key = rt.wake_key(shard)
    until = time.monotonic() + MAX_DRAIN_S
    while True:
        rt.redis.delete(key)
        last = _read(rt, shard)
        applied += last
        if not last or time.monotonic() >= until:
            return applied
        if not rt.redis.set(key, 1, nx=True, px=WAKE_TTL_MS):
            return applied
        applied += _read(rt, shard)


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
