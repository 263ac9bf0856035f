"""The dial task: a thin adapter over campaign.services.dialing."""

from __future__ import annotations

import random

from campaign import metrics
from campaign.clock import utcnow
from campaign.domain.pacing import retry_countdown
from campaign.errors import PacingExhausted
from campaign.runtime import DIAL_TASK
from campaign.services import claims, dialing
from campaign.services.dialing import DialResult
from workers.app import app
from workers.base import CampaignTask
from workers.runtime import dial_deps, runtime

_rng = random.Random()


@app.task(
    name=DIAL_TASK,
    bind=True,
    max_retries=None,
    base=CampaignTask,
    subject="attempt_id",
    result_metric=metrics.DIALOUTS,
)
def dial_attempt(
    self: CampaignTask,
    attempt_id: int,
    claim_token: str | None = None,
    ticket_at_ms: float | None = None,
) -> DialResult:
    """Dial one queued attempt; a duplicate delivery is a no-op because the claim is conditional.

    While pacing says wait, the task re-schedules itself with the limiter's retry-after and keeps
    its claim token, so the attempt is neither consumed nor claimable by a duplicate. With a
    ticket (its own rate slot, further ahead than a thread waits), it comes back just before the
    slot and holds it; a ticket is kept for that one try only.
    """
    claim = claims.take(runtime().sessions, attempt_id, claim_token, utcnow())
    if claim is None:
        return DialResult.skipped
    try:
        return dialing.dial(dial_deps(), claim, ticket_at_ms)
    except PacingExhausted as exc:
        metrics.LIMITER_WAITS.labels(exc.reason).inc()
        ticket = exc.ticket_at_ms is not None
        countdown = retry_countdown(exc.retry_after_s, ticket=ticket, rng=_rng)
        args = [attempt_id, claim.token, exc.ticket_at_ms]
        raise self.retry(args=args, countdown=countdown) from exc
