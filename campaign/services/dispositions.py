"""Recording a disposition: the bot's (by its attempt's token) and an operator's (by contact).

The disposition is stored on the attempt (the request as read and the answer given, so a
duplicate gets the same answer and changes nothing) and on the contact (for filters). Whether it
moves the contact now depends on the call (`domain.dispositions` has the decision):

- the call is still out: kept, and the final's consumer applies it instead of the retry policy
  (`redial.settle_contact`); a callback's due time is planned now, so the answer can say it;
- the final was applied first: the contact is settled again now, whatever the policy made of it
  (a callback after the last call of a completed one-shot campaign opens a new run for it);
- `do_not_call` acts at once either way: the number goes on the do-not-call list
  (`dnc_admin.add_numbers`, in the audit trail) and every open contact with it, in every
  campaign, is closed. Contacts another transaction holds are skipped, not waited for (two bots
  blocking one number must not deadlock): the dial-time gate suppresses them.

Lock order is the consumer's, attempt then contact. Callers own the transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.domain.dispositions import (
    CallbackPlan,
    CallbackRules,
    Disposition,
    DispositionRequest,
    plan_callback,
    settle,
)
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.reasons import Closed
from campaign.domain.states import (
    ATTEMPT_FINAL,
    CONTACT_FINAL,
    AttemptState,
    ContactEvent,
    ContactState,
    contact_transition,
)
from campaign.errors import Conflict, NotFound
from campaign.services import audit, dnc_admin, event_outbox, reruns
from campaign.services.contacts import find_contact
from campaign.services.redial import histories
from campaign.services.settlement import apply_settlement
from campaign.services.specs import load_spec

_OPEN = (ContactState.PENDING.value, ContactState.IN_FLIGHT.value)
_SUPPRESSED = contact_transition(ContactState.PENDING, ContactEvent.SUPPRESS).state.value


@dataclass(frozen=True)
class DispositionAnswer:
    """What a disposition did. `applied` is False while it waits for its call to end."""

    campaign_id: int
    contact_id: int
    attempt_id: int | None
    disposition: str
    label: str | None
    applied: bool
    duplicate: bool
    contact_state: str
    callback: dict[str, Any] | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _same(attempt: AttemptRow | None, request: DispositionRequest) -> DispositionAnswer | None:
    """The stored answer when `attempt` already took exactly this request."""
    stored = (attempt.disposition_detail if attempt is not None else None) or {}
    if stored.get("request") != request.to_dict():
        return None
    return DispositionAnswer(**{**stored["answer"], "duplicate": True})


def dispose_attempt(
    session: Session, attempt_id: int, request: DispositionRequest, *, now: datetime
) -> DispositionAnswer:
    """The bot's disposition for the attempt its token names. The same request again gets the
    same answer; a different one is a Conflict (an operator may still change it)."""
    attempt = session.get(AttemptRow, attempt_id, with_for_update=True)
    if attempt is None:
        raise NotFound("unknown disposition token")
    if attempt.disposition is not None:
        repeated = _same(attempt, request)
        if repeated is not None:
            return repeated
        raise Conflict(
            f"attempt {attempt_id} already has disposition {attempt.disposition!r}; the bot "
            "cannot change it (an operator can: POST /api/v1/campaigns/{id}/contacts/{ref}/"
            "disposition)"
        )
    contact = session.get_one(ContactRow, attempt.contact_id, with_for_update=True)
    return _record(session, contact, attempt, request, now=now)


def dispose_contact(
    session: Session,
    campaign_id: int,
    ref: str,
    request: DispositionRequest,
    *,
    now: datetime,
) -> DispositionAnswer:
    """An operator's disposition for a contact (by external id or number): recorded on its latest
    attempt, replacing the bot's, or on the contact alone when it was never called. Recorded in
    the audit trail; the same request again changes nothing."""
    contact_id = find_contact(session, campaign_id, ref).id
    attempt = session.scalar(
        select(AttemptRow)
        .where(AttemptRow.contact_id == contact_id)
        .order_by(AttemptRow.id.desc())
        .limit(1)
        .with_for_update()
    )
    repeated = _same(attempt, request)
    if repeated is not None:
        return repeated
    contact = session.get_one(ContactRow, contact_id, with_for_update=True)
    before = {"state": contact.state, "disposition": contact.disposition}
    answer = _record(session, contact, attempt, request, now=now)
    audit.record(
        session,
        "contact.disposition",
        campaign_id=campaign_id,
        before=before,
        after={"state": answer.contact_state, "disposition": answer.disposition},
        detail={"contact_id": contact_id, "ref": ref, "request": request.to_dict()},
    )
    return answer


def _plan(
    session: Session,
    contact: ContactRow,
    attempt: AttemptRow | None,
    campaign: CampaignRow,
    request: DispositionRequest,
    now: datetime,
) -> CallbackPlan:
    spec = load_spec(campaign.spec)
    run_id = attempt.run_id if attempt is not None else campaign.current_run_id
    rules = CallbackRules(
        spec.window, spec.retry, spec.window.zones_for(contact.zones), spec.ring_margin
    )
    return plan_callback(
        request,
        rules,
        this_run=histories(session, [contact.id], run_id=run_id)[contact.id],
        every_run=histories(session, [contact.id])[contact.id],
        now=now,
    )


def _record(
    session: Session,
    contact: ContactRow,
    attempt: AttemptRow | None,
    request: DispositionRequest,
    *,
    now: datetime,
) -> DispositionAnswer:
    campaign = session.get_one(CampaignRow, contact.campaign_id)
    plan = None
    if request.disposition is Disposition.CALLBACK:
        plan = _plan(session, contact, attempt, campaign, request, now)
    outcome = OutcomeClass(attempt.outcome) if attempt is not None and attempt.outcome else None
    settlement = settle(
        request.disposition,
        label=request.label,
        outcome=outcome,
        callback_due=plan.due_at if plan else None,
    )
    live = attempt is not None and AttemptState(attempt.state) not in ATTEMPT_FINAL
    was_open = contact.state not in CONTACT_FINAL
    blocking = request.disposition is Disposition.DO_NOT_CALL
    # A contact in flight on a newer call: that call's outcome decides when to call again.
    newer_call = not live and contact.state == ContactState.IN_FLIGHT.value
    notes = []
    if live and not blocking:
        applied = False
        notes.append("recorded: applied when the call ends")
    elif newer_call and settlement.event is ContactEvent.CALL_BACK:
        applied = False
        notes.append("not applied: the contact is on a newer call, whose outcome decides")
    else:
        applied = True
        notes.append(settlement.reason)
        if apply_settlement(contact, settlement) and settlement.event is ContactEvent.CALL_BACK:
            run = reruns.reopen_completed(session, contact.campaign_id, now, "a callback")
            if run is not None:
                notes.append(f"campaign {contact.campaign_id} had completed: run {run} opened")
    if blocking:
        notes.append(_block_number(session, contact, now))
    events = event_outbox.events_of(session, contact.campaign_id)
    if plan is not None:
        notes.append(plan.note)
    contact.disposition = request.disposition.value
    answer = DispositionAnswer(
        campaign_id=contact.campaign_id,
        contact_id=contact.id,
        attempt_id=attempt.id if attempt is not None else None,
        disposition=request.disposition.value,
        label=request.label,
        applied=applied,
        duplicate=False,
        contact_state=contact.state,
        callback=plan.to_dict() if plan else None,
        note="; ".join(notes),
    )
    if attempt is not None:
        attempt.disposition = request.disposition.value
        attempt.disposition_label = request.label
        attempt.disposition_at = plan.due_at if plan else None
        attempt.disposed_at = now
        attempt.disposition_detail = {"request": request.to_dict(), "answer": answer.to_dict()}
        if AttemptState(attempt.state) in ATTEMPT_FINAL:
            # Its `attempt.ended` went out without the disposition: the CRM hears it again, with.
            event_outbox.attempt_ended(session, attempt, contact, events)
    if was_open and contact.state in CONTACT_FINAL:
        event_outbox.contact_closed(session, contact, events)
    session.flush()
    return answer


def _block_number(session: Session, contact: ContactRow, now: datetime) -> str:
    """List the contact's number and close every other open contact with it (any campaign)."""
    dnc_admin.add_numbers(
        session,
        [contact.phone],
        now=now,
        note=f"disposition do_not_call (campaign {contact.campaign_id}, contact {contact.id})",
    )
    others = (
        select(ContactRow.id)
        .where(
            ContactRow.phone == contact.phone,
            ContactRow.state.in_(_OPEN),
            ContactRow.id != contact.id,
        )
        .with_for_update(skip_locked=True)
    )
    closed = session.execute(
        update(ContactRow)
        .where(ContactRow.id.in_(others.scalar_subquery()))
        .values(
            state=_SUPPRESSED,
            closed_reason=Closed.DO_NOT_CALL.value,
            next_due_at=None,
            waiting_reason=None,
        )
        .returning(ContactRow.campaign_id, *event_outbox.CLOSED_COLUMNS)
    ).all()
    by_campaign: dict[int, list[Any]] = {}
    for row in closed:
        by_campaign.setdefault(row.campaign_id, []).append(row)
    for campaign_id, rows in by_campaign.items():
        events = event_outbox.events_of(session, campaign_id)
        event_outbox.contacts_closed(session, campaign_id, events, rows)
    where = f" in {len(by_campaign)} campaigns" if closed else ""
    listed = f"{contact.phone} is on the do-not-call list"
    return f"{listed}; {len(closed)} other open contacts closed{where}"
