"""The notification consumer task: a thin adapter over campaign.services.notifications."""

from __future__ import annotations

import random

from campaign import metrics
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.runtime import NOTIFY_TASK
from campaign.services.notifications import Applied, apply_notification
from workers.app import app
from workers.base import CampaignTask
from workers.runtime import runtime

_rng = random.Random()


@app.task(
    name=NOTIFY_TASK,
    base=CampaignTask,
    subject="notification_id",
    result_metric=metrics.NOTIFICATIONS,
)
def consume_notification(notification_id: int) -> Applied:
    """Apply one stored notification; re-delivery is harmless (processed rows are skipped)."""
    rt = runtime()
    with transaction(rt.sessions) as session:
        return apply_notification(
            session, notification_id, leases=rt.leases, now=utcnow(), rng=_rng
        )
