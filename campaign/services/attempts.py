"""The read side of attempts for operators: a page of a campaign's attempts and one attempt's story.

The page is newest first (attempt ids grow with time), optionally of one outcome class, so the
console's table shows what just happened on top. An attempt's story is its timestamps in the order
the engine writes them (queued → claimed → sent → accepted → answered → ended) plus every
notification the gateway posted for it, as stored in the inbox: enough to tell why a call ended
the way it did without reading logs. Plain SELECTs; callers own the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, ContactRow, NotificationRow, RunRow
from campaign.domain.states import AttemptState
from campaign.errors import NotFound
from campaign.services.campaigns import get_campaign_row

IN_PROGRESS = "in_progress"
"""The outcome filter for attempts that have no outcome class yet."""

TIMELINE = (
    ("queued", "queued_at"),
    ("claimed", "claimed_at"),
    ("sent", "sending_at"),
    ("accepted", "accepted_at"),
    ("answered", "answered_at"),
    ("ended", "ended_at"),
)
"""The steps of an attempt, in order, and the column that records when each happened."""


@dataclass(frozen=True)
class AttemptView:
    """One attempt as the console's table lists it."""

    id: int
    contact_id: int
    external_id: str | None
    phone: str
    run: int | None
    number: int
    state: str
    outcome: str | None
    sip_code: int | None
    amd: str | None
    reason: str | None
    decision: str | None
    duration_s: int | None
    queued_at: datetime
    sending_at: datetime | None
    ended_at: datetime | None
    disposition: str | None
    disposition_label: str | None


@dataclass(frozen=True)
class NotificationView:
    """A status notification as stored: when it came, its status, what the consumer made of it."""

    received_at: datetime
    status: str | None
    result: str | None


@dataclass(frozen=True)
class TimelineStep:
    """A step the attempt went through (queued, claimed, sent, accepted, answered, ended)."""

    step: str
    at: datetime


@dataclass(frozen=True)
class AttemptDetail(AttemptView):
    """An attempt with its timeline (the steps that happened, in order), the gateway's ids and
    every notification received for it."""

    reason_code: str | None
    error: str | None
    sid: str | None
    call_id: str | None
    conversation_id: str | None
    dial_tries: int
    dial_latency_ms: float | None
    deadline_at: datetime | None
    disposed_at: datetime | None
    disposition_detail: dict[str, Any] | None
    timeline: list[TimelineStep]
    notifications: list[NotificationView]
    caller: str | None  # the caller ID it was dialed with (None: not sent)


_VIEW = (
    AttemptRow.id,
    AttemptRow.contact_id,
    ContactRow.external_id,
    AttemptRow.phone,
    RunRow.number,
    AttemptRow.number,
    AttemptRow.state,
    AttemptRow.outcome,
    AttemptRow.sip_code,
    AttemptRow.amd,
    AttemptRow.reason,
    AttemptRow.decision,
    AttemptRow.duration_s,
    AttemptRow.queued_at,
    AttemptRow.sending_at,
    AttemptRow.ended_at,
    AttemptRow.disposition,
    AttemptRow.disposition_label,
)


def _joined(*columns: Any) -> Any:
    return (
        select(*columns)
        .join(ContactRow, ContactRow.id == AttemptRow.contact_id)
        .outerjoin(RunRow, RunRow.id == AttemptRow.run_id)
    )


def list_attempts(
    session: Session, campaign_id: int, *, outcome: str | None, limit: int, offset: int
) -> tuple[list[AttemptView], int]:
    """A page of the campaign's attempts, newest first, and the total (released attempts, which
    placed no call and were handed back, are left out as `status` leaves them out)."""
    get_campaign_row(session, campaign_id)
    where = [
        AttemptRow.campaign_id == campaign_id,
        AttemptRow.state != AttemptState.RELEASED.value,
    ]
    if outcome == IN_PROGRESS:
        where.append(AttemptRow.outcome.is_(None))
    elif outcome is not None:
        where.append(AttemptRow.outcome == outcome)
    total = session.scalar(select(func.count()).select_from(AttemptRow).where(*where)) or 0
    rows = session.execute(
        _joined(*_VIEW).where(*where).order_by(AttemptRow.id.desc()).limit(limit).offset(offset)
    )
    return [AttemptView(*row) for row in rows], total


def attempts_of_contact(session: Session, contact_id: int) -> list[AttemptView]:
    """Every attempt to one contact, oldest first (released ones included: they say why a
    claim was handed back)."""
    rows = session.execute(
        _joined(*_VIEW).where(AttemptRow.contact_id == contact_id).order_by(AttemptRow.id)
    )
    return [AttemptView(*row) for row in rows]


def attempt_detail(session: Session, campaign_id: int, attempt_id: int) -> AttemptDetail:
    """One attempt of the campaign with its timeline and notifications; NotFound names both ids."""
    get_campaign_row(session, campaign_id)
    extra = (
        AttemptRow.reason_code,
        AttemptRow.error,
        AttemptRow.sid,
        AttemptRow.call_id,
        AttemptRow.conversation_id,
        AttemptRow.dial_tries,
        AttemptRow.dial_latency_ms,
        AttemptRow.deadline_at,
        AttemptRow.disposed_at,
        AttemptRow.disposition_detail,
        AttemptRow.caller,
        *(getattr(AttemptRow, column) for _, column in TIMELINE),
    )
    row = session.execute(
        _joined(*_VIEW, *extra).where(
            AttemptRow.id == attempt_id, AttemptRow.campaign_id == campaign_id
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"attempt {attempt_id} does not exist in campaign {campaign_id}")
    reason_code, error, sid, call_id, conversation_id, tries, latency, deadline, *rest = row[
        len(_VIEW) :
    ]
    disposed_at, disposition_detail, caller, *steps = rest
    notifications = session.execute(
        select(NotificationRow.received_at, NotificationRow.status, NotificationRow.result)
        .where(NotificationRow.attempt_id == attempt_id)
        .order_by(NotificationRow.received_at, NotificationRow.id)
    )
    return AttemptDetail(
        **vars(AttemptView(*row[: len(_VIEW)])),
        reason_code=reason_code,
        error=error,
        sid=sid,
        call_id=call_id,
        conversation_id=conversation_id,
        dial_tries=tries,
        dial_latency_ms=latency,
        deadline_at=deadline,
        disposed_at=disposed_at,
        disposition_detail=disposition_detail,
        timeline=[
            TimelineStep(step, at) for (step, _), at in zip(TIMELINE, steps, strict=True) if at
        ],
        notifications=[NotificationView(*n) for n in notifications],
        caller=caller,
    )
