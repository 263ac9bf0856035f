"""What happens to a contact once one of its attempts has an outcome: the retry policy decides.

Used by the notification consumer (a final status), the sweeper (`lost` past the deadline) and the
dial path (the gateway refused or kept failing), so every outcome goes through one decision.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign import metrics
from campaign.db.engine import after_commit
from campaign.db.tables import AttemptRow, ContactRow
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import PastAttempt, Redial
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import AttemptState, ContactEvent, ContactState, contact_transition

# Attempts that never reached the gateway do not count as calls in the policy's history.
_NOT_DIALED = (AttemptState.QUEUED.value, AttemptState.DIALING.value, AttemptState.RELEASED.value)


def ring_margin(spec: CampaignSpec) -> timedelta:
    """A call is only started if the window stays open for its whole ring time."""
    return timedelta(milliseconds=spec.gateway.timeout_in_ms)


def histories(
    session: Session, contact_ids: Sequence[int], *, run_id: int | None = None
) -> dict[int, list[PastAttempt]]:
    """Every dial to each contact, oldest first, as the retry policy reads it: across all runs,
    or only `run_id`'s (a recurring campaign's attempt caps start afresh each run)."""
    out: dict[int, list[PastAttempt]] = {cid: [] for cid in contact_ids}
    if not contact_ids:
        return out
    query = (
        select(
            AttemptRow.contact_id,
            AttemptRow.sending_at,
            AttemptRow.claimed_at,
            AttemptRow.outcome,
            AttemptRow.counted,
        )
        .where(AttemptRow.contact_id.in_(contact_ids), AttemptRow.state.not_in(_NOT_DIALED))
        .order_by(AttemptRow.id)
    )
    if run_id is not None:
        query = query.where(AttemptRow.run_id == run_id)
    for contact_id, sending_at, claimed_at, outcome, counted in session.execute(query):
        at = sending_at or claimed_at
        if at is not None:
            outcome_class = OutcomeClass(outcome) if outcome else None
            out[contact_id].append(PastAttempt(at=at, outcome=outcome_class, counted=counted))
    return out


def settle_contact(
    session: Session,
    *,
    attempt: AttemptRow,
    contact: ContactRow,
    spec: CampaignSpec,
    outcome: OutcomeClass,
    now: datetime,
    rng: random.Random,
) -> str:
    """Apply the retry policy after `attempt` ended in `outcome`; return the decision text.

    The attempt row must already carry its outcome (and be flushed) so the history includes it.
    A contact no longer in flight (cancelled or suppressed meanwhile) keeps its state.
    """
    after_commit(session, lambda: metrics.OUTCOMES.labels(outcome.value).inc())
    contact_state = ContactState(contact.state)
    if contact_state is not ContactState.IN_FLIGHT:
        decision = f"no redial: contact is {contact_state.value}"
        attempt.decision = decision
        return decision
    session.flush()
    zones = spec.window.zones_for(contact.zones)
    # Attempt caps count this run's dials; frequency caps (min_gap, per_day) hold across runs.
    this_run = histories(session, [contact.id], run_id=attempt.run_id)[contact.id]
    result = spec.retry.decide(outcome, this_run, now, zones[0], rng)
    if isinstance(result, Redial):
        every_run = histories(session, [contact.id])[contact.id]
        at = spec.retry.earliest_allowed(every_run, result.at, zones[0])
        opens = spec.window.next_open(at, zones, ring_margin(spec))
        if opens is None:
            contact.state = contact_transition(contact_state, ContactEvent.EXHAUST).state.value
            contact.closed_reason = f"{outcome.value}: the calling window never opens again"
            contact.next_due_at = None
            decision = contact.closed_reason
        else:
            contact.state = contact_transition(contact_state, ContactEvent.REDIAL).state.value
            contact.next_due_at = opens
            contact.waiting_reason = "retry" if opens == at else "window"
            decision = result.reason
    else:
        event = ContactEvent.EXHAUST if result.exhausted else ContactEvent.FINISH
        contact.state = contact_transition(contact_state, event).state.value
        contact.closed_reason = result.reason
        contact.next_due_at = None
        decision = result.reason
    contact.last_outcome = outcome.value
    attempt.decision = decision
    return decision
