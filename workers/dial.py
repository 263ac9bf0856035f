"""The dial task: a thin adapter over campaign.services.dialing."""

from __future__ import annotations

import random

from campaign import metrics
from campaign.clock import utcnow
from campaign.errors import PacingExhausted
from campaign.runtime import DIAL_TASK
from campaign.services import claims, dialing
from campaign.services.dialing import DialResult
from workers.app import app
from workers.base import CampaignTask
from workers.runtime import dial_deps, runtime


@app.task(
    name=DIAL_TASK,
    bind=True,
    max_retries=None,
    base=CampaignTask,
    subject="attempt_id",
    result_metric=metrics.DIALOUTS,
)
def dial_attempt(self: CampaignTask, attempt_id: int, claim_token: str | None = None) -> DialResult:
    """Dial one queued attempt; a duplicate delivery is a no-op because the claim is conditional.

    While pacing says wait, the task re-schedules itself with the limiter's retry-after and keeps
    its claim token, so the attempt is neither consumed nor claimable by a duplicate.
    """
    claim = claims.take(runtime().sessions, attempt_id, claim_token, utcnow())
    if claim is None:
        return DialResult.skipped
    try:
        return dialing.dial(dial_deps(), claim)
    except PacingExhausted as exc:
        metrics.LIMITER_WAITS.labels(exc.reason).inc()
        countdown = exc.retry_after_s + random.uniform(0, 0.05)
        raise self.retry(args=[attempt_id, claim.token], countdown=countdown) from exc
