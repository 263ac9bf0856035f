"""The dial task: a thin adapter over campaign.services.dialing."""

from __future__ import annotations

import random

from celery import Task

from campaign import metrics
from campaign.clock import utcnow
from campaign.errors import PacingExhausted
from campaign.runtime import DIAL_TASK
from campaign.services import dialing
from workers.app import app
from workers.runtime import dial_deps, runtime


@app.task(name=DIAL_TASK, bind=True, max_retries=None)
def dial_attempt(self: Task, attempt_id: int, claim_token: str | None = None) -> str:
    """Dial one queued attempt; a duplicate delivery is a no-op because the claim is conditional.

    While pacing says wait, the task re-schedules itself with the limiter's retry-after and keeps
    its claim token, so the attempt is neither consumed nor claimable by a duplicate.
    """
    if claim_token is None:
        claim_token = dialing.claim(runtime().sessions, attempt_id, utcnow())
        if claim_token is None:
            metrics.DIALOUTS.labels("skipped").inc()
            return "skipped"
    try:
        result = dialing.dial(dial_deps(), attempt_id, claim_token)
    except PacingExhausted as exc:
        metrics.LIMITER_WAITS.labels(exc.reason.split(" (")[0]).inc()
        countdown = exc.retry_after_s + random.uniform(0, 0.05)
        raise self.retry(args=[attempt_id, claim_token], countdown=countdown) from exc
    metrics.DIALOUTS.labels(result.value).inc()
    return result.value
