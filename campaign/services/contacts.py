"""Contacts for operators and CRMs: a page of a campaign's contacts, one contact with its attempts,
finding a contact by the reference a CRM holds, and changing its priority.

A CRM knows a person by its own id (the CSV's `external_id`) or by the number, so a reference is
either: the external id is tried first, then the number (E.164, or anything `phonenumbers` reads
with a `+`). Plain SELECTs; callers own the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import ContactRow
from campaign.domain.contacts import normalise_phone
from campaign.domain.dispositions import ALLOWED
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.priority import PRIORITY_MAX, PRIORITY_MIN
from campaign.domain.states import ContactState
from campaign.errors import InvalidInput, NotFound
from campaign.services import attempts, audit
from campaign.services.campaigns import get_campaign_row

PRIORITY_RANGE = (PRIORITY_MIN, PRIORITY_MAX)
"""Priorities an operator may give: the CSV's range, which bounds the claim's priority levels."""


@dataclass(frozen=True)
class ContactView:
    """One contact as the API lists it."""

    id: int
    phone: str
    external_id: str | None
    zones: list[str]
    state: str
    attempts: int
    next_due_at: datetime | None
    waiting_reason: str | None
    last_outcome: str | None
    closed_reason: str | None
    line_no: int | None
    priority: int
    disposition: str | None


@dataclass(frozen=True)
class ContactDetail(ContactView):
    """A contact with its metadata and every attempt, oldest first."""

    metadata: dict[str, Any]
    attempt_list: list[attempts.AttemptView]


_COLUMNS = tuple(getattr(ContactRow, f.name) for f in fields(ContactView))


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise InvalidInput(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def list_contacts(
    session: Session,
    campaign_id: int,
    *,
    state: str | None = None,
    outcome: str | None = None,
    disposition: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[ContactView], int]:
    """A page of a campaign's contacts in upload order and the total, optionally of one state,
    last outcome class and disposition (each checked against its allowed words)."""
    get_campaign_row(session, campaign_id)
    where = [ContactRow.campaign_id == campaign_id]
    if _choice("state", state, tuple(s.value for s in ContactState)):
        where.append(ContactRow.state == state)
    if _choice("outcome", outcome, tuple(o.value for o in OutcomeClass)):
        where.append(ContactRow.last_outcome == outcome)
    if _choice("disposition", disposition, ALLOWED):
        where.append(ContactRow.disposition == disposition)
    total = session.scalar(select(func.count()).select_from(ContactRow).where(*where)) or 0
    rows = session.execute(
        select(*_COLUMNS).where(*where).order_by(ContactRow.id).limit(limit).offset(offset)
    )
    return [ContactView(*row) for row in rows], total


def find_contact(session: Session, campaign_id: int, ref: str, *, lock: bool = False) -> ContactRow:
    """The campaign's contact whose external id is `ref`, else whose number is `ref`."""
    get_campaign_row(session, campaign_id)
    query = select(ContactRow).where(ContactRow.campaign_id == campaign_id)
    if lock:
        query = query.with_for_update()
    contact = session.scalar(query.where(ContactRow.external_id == ref))
    phone = normalise_phone(ref, None) if contact is None else None
    if phone is not None:
        contact = session.scalar(query.where(ContactRow.phone == phone))
    if contact is None:
        raise NotFound(
            f"contact {ref!r} does not exist in campaign {campaign_id} "
            "(give its external_id, or its number as +<country><number>)"
        )
    return contact


def contact_detail(session: Session, campaign_id: int, ref: str) -> ContactDetail:
    """One contact (by external id or number) with its attempts, oldest first."""
    contact = find_contact(session, campaign_id, ref)
    view = ContactView(*(getattr(contact, f.name) for f in fields(ContactView)))
    return ContactDetail(
        **vars(view),
        metadata=contact.metadata_,
        attempt_list=attempts.attempts_of_contact(session, contact.id),
    )


def set_priority(session: Session, campaign_id: int, ref: str, priority: int) -> ContactView:
    """Give a contact a new priority (higher is called first among contacts due at once); the
    audit trail keeps the old and new values."""
    low, high = PRIORITY_RANGE
    if isinstance(priority, bool) or not low <= priority <= high:
        raise InvalidInput(f"priority: {priority!r} is not an integer from {low} to {high}")
    contact = find_contact(session, campaign_id, ref, lock=True)
    before = contact.priority
    contact.priority = priority
    audit.record(
        session,
        "contact.priority",
        campaign_id=campaign_id,
        before={"priority": before},
        after={"priority": priority},
        detail={"contact_id": contact.id, "ref": ref},
    )
    session.flush()
    return ContactView(*(getattr(contact, f.name) for f in fields(ContactView)))
