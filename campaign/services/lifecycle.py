"""Lifecycle verbs (start, pause, resume, cancel): idempotent and safe while workers run.

Each verb locks the campaign row (`FOR UPDATE`), asks `campaign_transition`, and writes only when
the state machine says something changed, so repeating a verb is a no-op. Pausing flips the
state and hands the contacts of queued attempts back: the dispatcher picks contacts of running
campaigns only and the dial task re-checks the state before its POST, while calls already out
finish and their notifications are still applied. Cancelling closes every contact not yet
finished and releases its queued attempts. Each verb is recorded in the audit trail, a repeat too
(before and after then agree). Callers own the transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Update, func, select, update
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, DncRow, RunRow
from campaign.domain import gates
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.reasons import Closed
from campaign.domain.recurrence import next_run
from campaign.domain.states import (
    AttemptEvent,
    AttemptState,
    CampaignEvent,
    CampaignState,
    ContactEvent,
    ContactState,
    RunEvent,
    RunState,
    attempt_transition,
    campaign_transition,
    contact_transition,
    run_transition,
)
from campaign.services import audit, event_outbox
from campaign.services.campaigns import get_campaign_row
from campaign.services.specs import load_spec

OPERATOR_PAUSE = "paused by operator"


@dataclass(frozen=True)
class LifecycleResult:
    """The campaign's state after a verb; `changed` is false when the verb was a repeat."""

    id: int
    state: str
    previous: str
    changed: bool
    run: int | None = None  # the run a `start` opened

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def scrub_dnc(session: Session, campaign_id: int, now: datetime) -> int:
    """Suppress pending contacts whose number is on the do-not-call list now (before a run)."""
    target = contact_transition(ContactState.PENDING, ContactEvent.SUPPRESS).state
    blocked = select(DncRow.phone).where(
        DncRow.phone == ContactRow.phone, (DncRow.expires_at.is_(None)) | (DncRow.expires_at > now)
    )
    query = (
        update(ContactRow)
        .where(
            ContactRow.campaign_id == campaign_id,
            ContactRow.state == ContactState.PENDING.value,
            blocked.exists(),
        )
        .values(state=target.value, closed_reason=Closed.DO_NOT_CALL.value, next_due_at=None)
    )
    return close_contacts(session, campaign_id, query)


def close_contacts(session: Session, campaign_id: int, query: Update) -> int:
    """Run a bulk UPDATE that closes contacts of one campaign; returns how many. Each closed
    contact gets its `contact.closed` event when the campaign has a destination for them."""
    events = event_outbox.events_of(session, campaign_id)
    if not event_outbox.wants_closed(session, events):
        result = session.execute(query.execution_options(synchronize_session=False))
        return int(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's CursorResult has it
    closed = session.execute(
        query.returning(*event_outbox.CLOSED_COLUMNS).execution_options(synchronize_session=False)
    ).all()
    event_outbox.contacts_closed(session, campaign_id, events, closed)
    return len(closed)


def rearm_contacts(
    session: Session,
    campaign_id: int,
    now: datetime,
    *,
    sources: Collection[ContactState] = (ContactState.DONE, ContactState.EXHAUSTED),
    outcomes: Collection[OutcomeClass] | None = None,
) -> int:
    """Closed contacts in `sources` (and, when `outcomes` is given, whose last outcome is one of
    them) become pending and due now, for a new run; returns how many.

    Nothing else is reset: a run's attempt caps count only its own attempts (`settle_contact`
    reads the attempt's run) and frequency caps count every run's (the dispatcher reads them
    all). Suppressed contacts never come back: the contact machine keeps them. Scrub the
    do-not-call list after this (`scrub_dnc`).
    """
    count = 0
    for source in sources:
        target = contact_transition(source, ContactEvent.REARM).state
        query = update(ContactRow).where(
            ContactRow.campaign_id == campaign_id, ContactRow.state == source.value
        )
        if outcomes is not None:
            query = query.where(ContactRow.last_outcome.in_([o.value for o in outcomes]))
        result = session.execute(
            query.values(
                state=target.value, next_due_at=now, waiting_reason=None, closed_reason=None
            ).execution_options(synchronize_session=False)
        )
        count += int(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE's CursorResult has it
    return count


def open_run(
    session: Session,
    campaign: CampaignRow,
    *,
    now: datetime,
    state: RunState = RunState.RUNNING,
    scheduled_for: datetime | None = None,
    note: str | None = None,
) -> RunRow:
    """Record the campaign's next run (numbers count skipped runs too); a running run becomes
    the campaign's current one."""
    last = session.scalar(select(func.max(RunRow.number)).where(RunRow.campaign_id == campaign.id))
    started = state is RunState.RUNNING
    run = RunRow(
        campaign_id=campaign.id,
        number=(last or 0) + 1,
        state=state.value,
        scheduled_for=scheduled_for or now,
        started_at=now if started else None,
        finished_at=None if started else now,
        note=note,
    )
    session.add(run)
    session.flush()
    if started:
        campaign.current_run_id = run.id
        event_outbox.campaign_state(
            session, campaign, load_spec(campaign.spec).events, "started", extra={"run": run.number}
        )
    return run


def finish_run(session: Session, run_id: int | None, event: RunEvent, now: datetime) -> None:
    """End a running run through the run machine (a run already ended keeps its ending)."""
    if run_id is None:
        return
    run = session.get(RunRow, run_id, with_for_update=True)
    if run is None:
        return
    transition = run_transition(RunState(run.state), event)
    if transition.changed:
        run.state = transition.state.value
        run.finished_at = now


_RELEASED = attempt_transition(AttemptState.QUEUED, AttemptEvent.RELEASE).state
_HANDED_BACK = contact_transition(ContactState.IN_FLIGHT, ContactEvent.RELEASE).state
_NEVER_CLAIMED = (AttemptRow.state == AttemptState.QUEUED.value, AttemptRow.claimed_at.is_(None))


def release_queued(session: Session, campaign_id: int, state: CampaignState) -> None:
    """Apply the campaign gate of `state` to the campaign's queued attempts now, in the verb's
    transaction.

    Each would otherwise be claimed by its dial task only to be released there, one ORM
    transaction apiece (hundreds after a pause or cancel under load, each costing more than a
    dial's claim); their tasks now find nothing to claim. A paused campaign's contacts go back to
    pending with the attempt unspent and their due times kept; a cancelled campaign's were
    closed by the cancel itself. Attempts a worker claimed (`dialing`, or `queued` again by the
    sweeper after a worker died) are left to their dial task, which frees the live-call lease a
    dead worker may have taken: a never-claimed attempt holds none.
    """
    gate = gates.campaign_gate(state)
    if gate is None:
        return
    reason = gate.reason if isinstance(gate, gates.Close) else gate
    released = (
        update(AttemptRow)
        .where(AttemptRow.campaign_id == campaign_id, *_NEVER_CLAIMED)
        .values(state=_RELEASED.value, decision=gates.not_dialed(reason))
    )
    if isinstance(gate, gates.Close):  # the cancel closed the contacts already
        session.execute(released.execution_options(synchronize_session=False))
        return
    contacts = released.returning(AttemptRow.contact_id).cte("released")
    session.execute(
        update(ContactRow)
        .where(
            ContactRow.id == contacts.c.contact_id,
            ContactRow.state == ContactState.IN_FLIGHT.value,
        )
        .values(
            state=_HANDED_BACK.value,
            waiting_reason=reason.value,
            attempts=ContactRow.attempts - 1,  # so the next attempt takes this one's number
        )
        .execution_options(synchronize_session=False)
    )


_CHANGES = {
    ("start", CampaignState.SCHEDULED.value): "scheduled",
    ("pause", CampaignState.PAUSED.value): "paused",
    ("resume", CampaignState.RUNNING.value): "resumed",
    ("cancel", CampaignState.CANCELLED.value): "cancelled",
}


def _result(
    session: Session,
    verb: str,
    row: CampaignRow,
    previous: CampaignState,
    run: int | None = None,
) -> LifecycleResult:
    result = LifecycleResult(row.id, row.state, previous.value, row.state != previous.value, run)
    # `started` is recorded by open_run, whoever opens the run (start, recurrence, rerun).
    change = _CHANGES.get((verb, row.state))
    if result.changed and change is not None:
        reason = row.paused_reason if verb == "pause" else None
        event_outbox.campaign_state(session, row, load_spec(row.spec).events, change, reason=reason)
    audit.record(
        session,
        f"campaign.{verb}",
        campaign_id=row.id,
        before={"state": previous.value},
        after={"state": row.state},
        detail=None if run is None else {"run": run},
    )
    return result


def start(session: Session, campaign_id: int, *, now: datetime) -> LifecycleResult:
    """Start a campaign. One-shot: run #1 begins now (do-not-call re-scrubbed first). Recurring
    (`schedule.cron`): the campaign becomes `scheduled` and runs begin at each occurrence.

    Repeating `start` is a no-op; a completed one-shot campaign stays completed (its run is
    over); a paused one must be resumed, a cancelled one cannot start (IllegalTransition).
    """

    row = get_campaign_row(session, campaign_id, lock=True)
    state = CampaignState(row.state)
    schedule = load_spec(row.spec).schedule
    if schedule is not None:
        if state in (CampaignState.DRAFT, CampaignState.SCHEDULED):
            row.state = campaign_transition(state, CampaignEvent.SCHEDULE).state.value
            if row.next_run_at is None:
                row.next_run_at = next_run(schedule.cron, schedule.timezone, now)
        elif state not in (CampaignState.RUNNING, CampaignState.COMPLETED):
            campaign_transition(state, CampaignEvent.START)  # raises for paused/cancelled
        return _result(session, "start", row, state)
    if state is CampaignState.COMPLETED:
        return _result(session, "start", row, state)
    transition = campaign_transition(state, CampaignEvent.START)
    run_number = None
    if transition.changed:
        row.state = transition.state.value
        scrub_dnc(session, campaign_id, now)
        run_number = open_run(session, row, now=now).number
    session.flush()
    return _result(session, "start", row, state, run_number)


def pause(session: Session, campaign_id: int, *, reason: str = OPERATOR_PAUSE) -> LifecycleResult:
    """Stop new dial-outs; calls already out finish and are processed. Repeating is a no-op."""
    row = get_campaign_row(session, campaign_id, lock=True)
    state = CampaignState(row.state)
    transition = campaign_transition(state, CampaignEvent.PAUSE)
    if transition.changed:
        row.state = transition.state.value
        row.paused_reason = reason
        session.flush()
        release_queued(session, campaign_id, transition.state)
    return _result(session, "pause", row, state)


def resume(session: Session, campaign_id: int) -> LifecycleResult:
    """Continue a paused campaign where it stopped: contacts keep their due times."""
    row = get_campaign_row(session, campaign_id, lock=True)
    state = CampaignState(row.state)
    transition = campaign_transition(state, CampaignEvent.RESUME)
    if transition.changed:
        row.state = transition.state.value
        row.paused_reason = None
        session.flush()
    return _result(session, "resume", row, state)


def cancel(session: Session, campaign_id: int, *, now: datetime) -> LifecycleResult:
    """Cancel for good: every pending or in-flight contact is closed `cancelled` (a call already
    out still gets its outcome recorded on the attempt, but is never redialed)."""
    row = get_campaign_row(session, campaign_id, lock=True)
    state = CampaignState(row.state)
    transition = campaign_transition(state, CampaignEvent.CANCEL)
    if not transition.changed:
        return _result(session, "cancel", row, state)
    row.state = transition.state.value
    row.next_run_at = None
    for source in (ContactState.PENDING, ContactState.IN_FLIGHT):
        target = contact_transition(source, ContactEvent.CANCEL).state
        close_contacts(
            session,
            campaign_id,
            update(ContactRow)
            .where(ContactRow.campaign_id == campaign_id, ContactRow.state == source.value)
            .values(
                state=target.value, closed_reason=Closed.CAMPAIGN_CANCELLED.value, next_due_at=None
            ),
        )
    release_queued(session, campaign_id, transition.state)
    finish_run(session, row.current_run_id, RunEvent.CANCEL, now)
    session.flush()
    return _result(session, "cancel", row, state)
