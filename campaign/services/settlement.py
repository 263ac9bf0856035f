"""Applying a disposition's decision (`domain.dispositions.Settlement`) to a contact row.

Shared by the two orders a disposition and a final can arrive in: the final's consumer
(`redial.settle_contact`, when the attempt already carries a disposition) and the disposition
service (when the final was applied first). One function, so both end in the same row.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, ContactRow
from campaign.domain.dispositions import Disposition, Settlement, settle, settles
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.reasons import Waiting
from campaign.domain.states import ContactEvent, ContactState, contact_transition


def apply_settlement(contact: ContactRow, settlement: Settlement) -> bool:
    """Move `contact` as `settlement` says; False (nothing written) when it is closed for good
    (suppressed, cancelled, invalid) or the retry policy decides."""
    state = ContactState(contact.state)
    if settlement.event is None or not settles(state, settlement):
        return False
    contact.state = contact_transition(state, settlement.event).state.value
    if settlement.event is ContactEvent.CALL_BACK:
        contact.next_due_at = settlement.due_at
        contact.waiting_reason = Waiting.CALLBACK.value
        contact.closed_reason = None
    else:
        contact.next_due_at = None
        contact.waiting_reason = None
        contact.closed_reason = settlement.reason
    return True


def settlement_of(attempt: AttemptRow, outcome: OutcomeClass | None) -> Settlement | None:
    """The decision a disposition stored on `attempt` makes (None: it carries none)."""
    if attempt.disposition is None:
        return None
    return settle(
        Disposition(attempt.disposition),
        label=attempt.disposition_label,
        outcome=outcome,
        callback_due=attempt.disposition_at,
    )


def settle_disposed(
    session: Session, attempt: AttemptRow, contact: ContactRow, outcome: OutcomeClass
) -> str | None:
    """In the final's consumer: settle an in-flight contact by its attempt's disposition instead
    of the retry policy; returns the decision, or None when the policy decides."""
    settlement = settlement_of(attempt, outcome)
    if settlement is None or not apply_settlement(contact, settlement):
        return None
    contact.last_outcome = outcome.value
    attempt.decision = settlement.reason
    session.flush()
    return settlement.reason
