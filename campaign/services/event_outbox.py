"""The write side of the events outbox: one row per event and destination, in the caller's
transaction, so an event exists exactly when the change it reports committed.

Each hook (`attempt_ended`, `contact_closed`, `campaign_state`, and the bulk `contacts_closed`)
is called from the one place that makes the change. A row costs one INSERT, batched by the ORM
with the rest of the flush: no extra round trip on the dial path. Nothing is written for a
campaign with no destination (no spec `events` block and no EVENTS_URL).

The deployment's own destination (EVENTS_URL) is known to a session through its `info`
(`session_info`, given to the session factory by every process from its Settings), so the hot
paths need no new parameter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, EventRow
from campaign.domain.events_spec import ATTEMPT_ENDED, CAMPAIGN_STATE, CONTACT_CLOSED, EventsSpec
from campaign.services.specs import load_spec
from campaign.settings import Settings

CAMPAIGN = "campaign"
GLOBAL = "global"
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
_GLOBAL_KEY = "campaign.global_events"


def session_info(settings: Settings) -> dict[str, object]:
    """What sessions of this process must know to write events (see the module docstring)."""
    return {_GLOBAL_KEY: settings.global_events is not None}


def events_of(session: Session, campaign_id: int) -> EventsSpec | None:
    """The campaign's own destination, read from its stored spec (for paths that lack it)."""
    stored = session.scalar(select(CampaignRow.spec).where(CampaignRow.id == campaign_id))
    return None if stored is None else load_spec(stored).events


def destinations(session: Session, events: EventsSpec | None, event_type: str) -> list[str]:
    """Where an event of `event_type` of a campaign with `events` goes (may be none)."""
    out = [CAMPAIGN] if events is not None and events.wants(event_type) else []
    if session.info.get(_GLOBAL_KEY):
        out.append(GLOBAL)
    return out


def record(
    session: Session,
    *,
    campaign_id: int,
    events: EventsSpec | None,
    event_type: str,
    data: Mapping[str, Any],
    contact_id: int | None = None,
) -> None:
    """Add one event (a row per destination, sharing one id) to the session. `created_at` and
    `next_at` are the database's `now()` (the transaction's start), so no caller needs a clock
    and the rows of one flush go as one multi-row INSERT."""
    _add(
        session,
        destinations(session, events, event_type),
        campaign_id,
        event_type,
        [(contact_id, data)],
    )


def _add(
    session: Session,
    to: list[str],
    campaign_id: int,
    event_type: str,
    items: Iterable[tuple[int | None, Mapping[str, Any]]],
) -> None:
    if not to:
        return
    rows = []
    for contact_id, data in items:
        event_id = str(uuid.uuid4())
        rows += [
            EventRow(
                event_id=event_id,
                campaign_id=campaign_id,
                contact_id=contact_id,
                destination=destination,
                type=event_type,
                data=dict(data),
                state=PENDING,
            )
            for destination in to
        ]
    session.add_all(rows)


def attempt_data(attempt: AttemptRow, contact: ContactRow) -> dict[str, Any]:
    """The `attempt.ended` body's `data`: built from the attempt row in this one place."""
    return {
        "campaign_id": attempt.campaign_id,
        "contact": _contact_ref(contact),
        "attempt": {"id": attempt.id, "number": attempt.number, "run_id": attempt.run_id},
        "state": attempt.state,
        "outcome": attempt.outcome,
        "sip_code": attempt.sip_code,
        "amd": attempt.amd,
        "duration_s": attempt.duration_s,
        "ended_at": attempt.ended_at.isoformat() if attempt.ended_at else None,
        "decision": attempt.decision,
        "counted": attempt.counted,
        "disposition": attempt.disposition,
        "disposition_label": attempt.disposition_label,
    }


def attempt_ended(
    session: Session, attempt: AttemptRow, contact: ContactRow, events: EventsSpec | None
) -> None:
    """An attempt reached its final state (outcome, or not charged while a breaker held it)."""
    record(
        session,
        campaign_id=attempt.campaign_id,
        events=events,
        event_type=ATTEMPT_ENDED,
        data=attempt_data(attempt, contact),
        contact_id=contact.id,
    )


def _contact_ref(contact: ContactRow) -> dict[str, Any]:
    return {"id": contact.id, "external_id": contact.external_id, "phone": contact.phone}


def contact_closed(session: Session, contact: ContactRow, events: EventsSpec | None) -> None:
    """A contact reached a closed state: its final state and why."""
    record(
        session,
        campaign_id=contact.campaign_id,
        events=events,
        event_type=CONTACT_CLOSED,
        data=_closed_data(
            contact.campaign_id,
            _contact_ref(contact),
            contact.state,
            contact.closed_reason,
            contact.last_outcome,
            contact.attempts,
        ),
        contact_id=contact.id,
    )


def _closed_data(
    campaign_id: int,
    ref: dict[str, Any],
    state: str,
    reason: str | None,
    last_outcome: str | None,
    attempts: int | None,
) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "contact": ref,
        "state": state,
        "reason": reason,
        "last_outcome": last_outcome,
        "attempts": attempts,
    }


def wants_closed(session: Session, events: EventsSpec | None) -> bool:
    """Whether a bulk close must return its contacts for `contacts_closed` (saves the work)."""
    return bool(destinations(session, events, CONTACT_CLOSED))


def contacts_closed(
    session: Session,
    campaign_id: int,
    events: EventsSpec | None,
    closed: Iterable[Any],
) -> None:
    """Bulk closes (cancel, do-not-call scrub): `closed` holds rows of (id, external_id, phone,
    state, closed_reason, last_outcome, attempts) as the UPDATE returned them."""
    to = destinations(session, events, CONTACT_CLOSED)
    items = (
        (
            row.id,
            _closed_data(
                campaign_id,
                {"id": row.id, "external_id": row.external_id, "phone": row.phone},
                row.state,
                row.closed_reason,
                row.last_outcome,
                row.attempts,
            ),
        )
        for row in closed
    )
    _add(session, to, campaign_id, CONTACT_CLOSED, items)


CLOSED_COLUMNS = (
    ContactRow.id,
    ContactRow.external_id,
    ContactRow.phone,
    ContactRow.state,
    ContactRow.closed_reason,
    ContactRow.last_outcome,
    ContactRow.attempts,
)
"""What a bulk close's UPDATE returns for `contacts_closed`."""


def campaign_state(
    session: Session,
    campaign: CampaignRow,
    events: EventsSpec | None,
    change: str,
    *,
    reason: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The campaign changed state: `change` is started, scheduled, paused, resumed, completed,
    cancelled, breaker_opened or breaker_closed."""
    record(
        session,
        campaign_id=campaign.id,
        events=events,
        event_type=CAMPAIGN_STATE,
        data={
            "campaign": {"id": campaign.id, "name": campaign.name},
            "state": campaign.state,
            "change": change,
            "reason": reason,
            **(extra or {}),
        },
    )
