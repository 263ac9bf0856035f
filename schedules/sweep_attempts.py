"""The sweeper's attempt repairs: what a lost message, a dead worker or a lost notification leaves.

Each repair takes its rows with `FOR UPDATE SKIP LOCKED` or a conditional `UPDATE`, so several
dispatchers may sweep at once, and closes through `services.redial.close_attempt`, the same close
as a final notification's.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from campaign.breaker import gateway_id
from campaign.db.engine import after_commit, transaction
from campaign.db.tables import AttemptRow, CampaignRow, NotificationRow
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.states import ATTEMPT_LIVE, AttemptEvent, AttemptState, attempt_transition
from campaign.runtime import Runtime
from campaign.services.redial import close_attempt
from campaign.services.specs import load_spec

BATCH = 500

_LIVE = tuple(s.value for s in ATTEMPT_LIVE)
_REQUEUED = attempt_transition(AttemptState.DIALING, AttemptEvent.REQUEUE).state
# Sent and not yet heard from: `answered` has spoken, and keeps its slot until its full deadline.
_SILENT = (AttemptState.SENDING.value, AttemptState.ACCEPTED.value)


def resend_stale(runtime: Runtime, now: datetime) -> tuple[int, int]:
    """Attempts left `queued` (lost message) are sent again; attempts left `dialing` (dead
    worker, nothing sent) go back to `queued` with a new message. (resent, requeued)."""
    queued_stale = timedelta(seconds=runtime.settings.sweep_queued_stale_s)
    dialing_stale = timedelta(seconds=runtime.settings.sweep_dialing_stale_s)
    with transaction(runtime.sessions) as session:
        ids = list(
            session.scalars(
                update(AttemptRow)
                .where(
                    AttemptRow.state == AttemptState.QUEUED.value,
                    AttemptRow.queued_at < now - queued_stale,
                )
                .values(queued_at=now)
                .returning(AttemptRow.id)
            )
        )
        stale_claims = list(
            session.scalars(
                update(AttemptRow)
                .where(
                    AttemptRow.state == AttemptState.DIALING.value,
                    AttemptRow.claimed_at < now - dialing_stale,
                )
                .values(state=_REQUEUED.value, claim_token=None, queued_at=now)
                .returning(AttemptRow.id)
            )
        )
        if ids or stale_claims:
            after_commit(session, lambda: runtime.enqueue_dials(ids + stale_claims))
    return len(ids), len(stale_claims)


def expire_overdue(runtime: Runtime, now: datetime, rng: random.Random) -> int:
    """Live attempts past their full deadline: no final came (jambonz #1478) → `lost`."""
    with transaction(runtime.sessions) as session:
        overdue = list(
            session.scalars(
                select(AttemptRow)
                .where(
                    AttemptRow.state.in_(_LIVE),
                    AttemptRow.deadline_at < now,
                    ~exists().where(
                        NotificationRow.attempt_id == AttemptRow.id,
                        NotificationRow.processed_at.is_(None),
                    ),
                )
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        for attempt in overdue:
            _close(session, runtime, attempt, AttemptEvent.EXPIRE, OutcomeClass.LOST, now, rng)
    return len(overdue)


def settle_silent(runtime: Runtime, now: datetime, rng: random.Random) -> int:
    """Sent attempts that heard nothing at all by their silent deadline (`domain.pacing`).

    Without a `sid` the POST got no usable answer (5xx, read timeout) and no call announced
    itself: it was not placed (unless a receipt says the gateway answered with a sid whose commit
    failed), so it goes back to the retry policy as a refused dial-out (not a call, not charged
    while the gateway's breaker is open). With a `sid` the gateway took it but
    every notification was lost: `lost`, and its live-call slot is freed now rather than at the
    full deadline. The residual risk: a placed call whose every notification was lost may be
    dialed again by the policy.
    """
    heard = exists().where(NotificationRow.attempt_id == AttemptRow.id)
    with transaction(runtime.sessions) as session:
        silent = list(
            session.scalars(
                select(AttemptRow)
                .where(
                    AttemptRow.state.in_(_SILENT),
                    AttemptRow.silent_deadline_at < now,
                    ~heard,
                )
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        receipts = runtime.receipts.find([a.id for a in silent if a.sid is None])
        for attempt in silent:
            if attempt.id in receipts:  # placed: its sid commit failed, its receipt says so
                attempt.sid, attempt.call_id = receipts[attempt.id]
            if attempt.sid is None:
                event, outcome = AttemptEvent.ERROR, OutcomeClass.GATEWAY_ERROR
            else:
                event, outcome = AttemptEvent.EXPIRE, OutcomeClass.LOST
            _close(session, runtime, attempt, event, outcome, now, rng)
    return len(silent)


def _close(
    session: Session,
    runtime: Runtime,
    attempt: AttemptRow,
    event: AttemptEvent,
    outcome: OutcomeClass,
    now: datetime,
    rng: random.Random,
) -> None:
    spec = load_spec(session.get_one(CampaignRow, attempt.campaign_id).spec)
    held_by = None
    if outcome is OutcomeClass.GATEWAY_ERROR:
        breaker = runtime.breaker.read(gateway_id(runtime.settings.savg_base_url, attempt.trunk))
        held_by = breaker if breaker.open else None
    close_attempt(
        session,
        attempt,
        event=event,
        outcome=outcome,
        spec=spec,
        now=now,
        rng=rng,
        leases=runtime.leases,
        held_by=held_by,
    )
