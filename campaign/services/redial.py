"""What happens once an attempt ends: `close_attempt` records it and the retry policy decides.

Used by the notification consumer (a final status), the sweeper (`lost`, or a silent attempt that
was never placed) and the dial path (the gateway refused), so every ending goes through one place.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, any_, bindparam, select
from sqlalchemy.orm import Session

from campaign import metrics
from campaign.breaker import Breaker
from campaign.db.engine import DriverStatement, after_commit, run_in
from campaign.db.tables import AttemptRow, ContactRow
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.reasons import Closed, Waiting
from campaign.domain.retry_policy import PastAttempt, Redial
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import (
    CONTACT_FINAL,
    AttemptEvent,
    AttemptState,
    ContactEvent,
    ContactState,
    attempt_transition,
    contact_transition,
)
from campaign.services import event_outbox
from campaign.services.leases import Leases
from campaign.services.settlement import settle_disposed

# Every closed state: a disposition's settlement can also end a contact invalid or suppressed.
_CLOSED = frozenset(s.value for s in CONTACT_FINAL)
# Attempts that never reached the gateway are not in the policy's history at all.
_NOT_DIALED = (AttemptState.QUEUED.value, AttemptState.DIALING.value, AttemptState.RELEASED.value)


def histories(
    session: Session, contact_ids: Sequence[int], *, run_id: int | None = None
) -> dict[int, list[PastAttempt]]:
    """Every dial to each contact, oldest first, as the retry policy reads it: across all runs,
    or only `run_id`'s (a recurring campaign's attempt caps start afresh each run)."""
    out: dict[int, list[PastAttempt]] = {cid: [] for cid in contact_ids}
    for contact_id, run, past in _dials(session, contact_ids):
        if run_id is None or run == run_id:
            out[contact_id].append(past)
    return out


_DIALS = DriverStatement(
    select(
        AttemptRow.contact_id,
        AttemptRow.run_id,
        AttemptRow.sending_at,
        AttemptRow.claimed_at,
        AttemptRow.outcome,
        AttemptRow.counted,
        AttemptRow.state,
    )
    .where(
        AttemptRow.contact_id == any_(bindparam("contact_ids", type_=ARRAY(BigInteger))),
        AttemptRow.id.is_distinct_from(bindparam("excluding", type_=BigInteger)),
        *(AttemptRow.state != state for state in _NOT_DIALED),
    )
    .order_by(AttemptRow.id)
)
"""Compiled once: every final that reads the history runs it (`_history`), and so do the
dispatcher's frequency gates for a whole batch (`histories`)."""


def _dials(
    session: Session, contact_ids: Sequence[int], *, excluding: int | None = None
) -> list[tuple[int, int | None, PastAttempt]]:
    """(contact, run, dial) of every dial to these contacts, oldest first: one query; all but
    attempt `excluding` when it is given (the caller holds that one in memory)."""
    if not contact_ids:
        return []
    rows = run_in(session, _DIALS, {"contact_ids": list(contact_ids), "excluding": excluding})
    dials = []
    for contact_id, run, sending_at, claimed_at, outcome, counted, state in rows:
        past = _past(sending_at or claimed_at, outcome, counted, state)
        if past is not None:
            dials.append((contact_id, run, past))
    return dials


def _past(
    at: datetime | None, outcome: str | None, counted: bool, state: str
) -> PastAttempt | None:
    """One attempt as the retry policy reads it; None when it was never dialed."""
    if at is None or state in _NOT_DIALED:
        return None
    outcome_class = OutcomeClass(outcome) if outcome else None
    # `error`: the gateway refused or never took the dial-out, so no call was placed.
    placed = state != AttemptState.ERROR.value
    return PastAttempt(at, outcome_class, counted, placed)


def _history(
    session: Session, attempt: AttemptRow, contact_id: int
) -> list[tuple[int | None, PastAttempt]]:
    """(run, dial) of every dial to the contact, `attempt` (just ended) read from memory, not
    from its row: so the caller need not flush it first (one round trip less per final)."""
    dials = [(run, past) for _, run, past in _dials(session, [contact_id], excluding=attempt.id)]
    at = attempt.sending_at or attempt.claimed_at
    own = _past(at, attempt.outcome, attempt.counted, attempt.state)
    if own is not None:
        dials.append((attempt.run_id, own))
    return dials


def close_attempt(
    session: Session,
    attempt: AttemptRow,
    *,
    event: AttemptEvent,
    outcome: OutcomeClass,
    spec: CampaignSpec,
    now: datetime,
    rng: random.Random,
    leases: Leases,
    held_by: Breaker | None = None,
    contact: ContactRow | None = None,
) -> str | None:
    """End a locked `attempt` through its machine, settle its contact, free its live-call slot.

    Returns the decision, or None when `event` was a no-op (a race with another final: nothing is
    written). Records `attempt.ended`, then `contact.closed` when this ending closed the contact.
    `held_by` an open gateway breaker: the dial-out failed for the gateway's sake, so it
    is not charged to the contact (no outcome, no retry-policy decision): the contact waits for the
    breaker's next probe. The lease is freed only after commit, so a rolled-back ending never
    frees a slot for a call that may be live. `contact`: the attempt's contact when the caller
    already holds its lock (the consumer locks it in the statement that loads the attempt).
    """
    transition = attempt_transition(AttemptState(attempt.state), event)
    if not transition.changed:
        return None
    attempt.state = transition.state.value
    attempt.ended_at = now
    if contact is None:
        contact = session.get_one(ContactRow, attempt.contact_id, with_for_update=True)
    was_open = contact.state not in _CLOSED
    leases.release_after_commit(
        session, attempt_id=attempt.id, campaign_id=attempt.campaign_id, spec=spec
    )
    if held_by is not None:
        attempt.counted = False
        decision = attempt.decision = f"not charged: {held_by.reason()}"
        _wait(contact, held_by.until or now, Waiting.GATEWAY_UNAVAILABLE)
    else:
        attempt.outcome = outcome.value
        # A refused dial-out is not a call: it never counts (the spec cannot make it).
        attempt.counted = spec.retry.counts(outcome) and outcome is not OutcomeClass.GATEWAY_ERROR
        decision = settle_contact(
            session, attempt=attempt, contact=contact, spec=spec, outcome=outcome, now=now, rng=rng
        )
    # In this order, so a receiver hears of the attempt before of the contact it closed.
    event_outbox.attempt_ended(session, attempt, contact, spec.events)
    if was_open and contact.state in _CLOSED:
        event_outbox.contact_closed(session, contact, spec.events)
    return decision


def _wait(contact: ContactRow, until: datetime, reason: Waiting) -> None:
    state = ContactState(contact.state)
    if state is ContactState.IN_FLIGHT:
        contact.state = contact_transition(state, ContactEvent.REDIAL).state.value
        contact.next_due_at = until
        contact.waiting_reason = reason.value


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

    The attempt must already carry its outcome: the history reads it from memory (`_history`).
    A contact no longer in flight (cancelled or suppressed meanwhile) keeps its state. A
    disposition the bot posted during the call wins over the policy (`settlement`).
    """
    after_commit(session, lambda: metrics.OUTCOMES.labels(outcome.value).inc())
    contact_state = ContactState(contact.state)
    if contact_state is not ContactState.IN_FLIGHT:
        decision = f"no redial: contact is {contact_state.value}"
        attempt.decision = decision
        return decision
    disposed = settle_disposed(session, attempt, contact, outcome)
    if disposed is not None:
        return disposed
    zones = spec.window.zones_for(contact.zones)
    # Attempt caps count this run's dials; frequency caps (min_gap, per_day) hold across runs.
    dials = _history(session, attempt, contact.id) if spec.retry.reads_history(outcome) else []
    this_run = [past for run, past in dials if run == attempt.run_id]
    result = spec.retry.decide(outcome, this_run, now, zones[0], rng)
    if isinstance(result, Redial):
        every_run = [past for _, past in dials]
        at = spec.retry.earliest_allowed(every_run, result.at, zones[0])
        opens = spec.window.next_open(at, zones, spec.ring_margin)
        if opens is None:
            contact.state = contact_transition(contact_state, ContactEvent.EXHAUST).state.value
            contact.closed_reason = f"{outcome.value}: {Closed.WINDOW_NEVER_OPENS.value}"
            contact.next_due_at = None
            decision = contact.closed_reason
        else:
            contact.state = contact_transition(contact_state, ContactEvent.REDIAL).state.value
            contact.next_due_at = opens
            contact.waiting_reason = (Waiting.RETRY if opens == at else Waiting.WINDOW).value
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
