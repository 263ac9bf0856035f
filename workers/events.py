"""The events deliverer: sends due outbox events to the CRMs (a thin adapter over
campaign.services.event_delivery), on its own queue so a slow CRM never holds a dial."""

from __future__ import annotations

import random

import httpx

from campaign.clock import utcnow
from campaign.runtime import EVENTS_TASK
from campaign.services.event_delivery import TIMEOUT, Target, deliver_due
from workers.app import app
from workers.base import CampaignTask
from workers.runtime import runtime

BATCH = 100
_rng = random.Random()


@app.task(name=EVENTS_TASK, base=CampaignTask, subject="deliver")
def deliver() -> int:
    """Send every due event, a batch at a time; a second deliverer takes other rows (SKIP
    LOCKED), and a redelivered task finds nothing due. Events that keep failing wait for their
    retry time and the sweeper's next kick."""
    rt = runtime()
    configured = rt.settings.global_events
    target = Target(*configured) if configured is not None else None
    sent = 0
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        while True:
            rt.redis.delete(rt.events_wake_key)  # before the claim: a later due row wakes us
            result = deliver_due(
                rt.sessions, client=client, global_target=target, now=utcnow, rng=_rng, limit=BATCH
            )
            sent += result.delivered
            # Each delivery may free the next event of its contact: go on while sends succeed.
            if result.claimed == 0 or result.delivered == 0:
                return sent
