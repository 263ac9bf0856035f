"""Claiming due contacts: the dispatcher's one transaction per campaign per tick.

Claim, gate and create attempts in one transaction with `FOR UPDATE SKIP LOCKED`, so any number of
dispatcher replicas run without a leader and never claim one contact twice; the Celery messages go
out only after commit (a message lost in between is re-sent by the sweeper).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, ContactRow
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import (
    ATTEMPT_LIVE,
    AttemptState,
    ContactEvent,
    ContactState,
    contact_transition,
)
from campaign.services.dnc import blocked_numbers
from campaign.services.redial import histories, ring_margin


@dataclass
class DispatchResult:
    """What one claim did; the counts feed metrics and `status`."""

    attempt_ids: list[int] = field(default_factory=list)
    window_closed: int = 0
    capped: int = 0
    suppressed: int = 0
    closed: int = 0


def open_attempt_counts(session: Session, campaign_id: int) -> tuple[int, int]:
    """(live, queued) attempts of a campaign: calls out, and attempts not yet sent."""
    waiting = (AttemptState.QUEUED.value, AttemptState.DIALING.value)
    live_states = tuple(s.value for s in ATTEMPT_LIVE)
    rows = session.execute(
        select(AttemptRow.state, func.count())
        .where(AttemptRow.campaign_id == campaign_id, AttemptRow.state.in_(waiting + live_states))
        .group_by(AttemptRow.state)
    )
    live = queued = 0
    for state, count in rows:
        if state in waiting:
            queued += count
        else:
            live += count
    return live, queued


def due_contacts(campaign_id: int, now: datetime, limit: int) -> Select[tuple[ContactRow]]:
    """The claim: a range scan of the partial index `ix_contacts_due` (pending only, by due time),
    so its cost depends on the batch, not on the size of the list or how much of it is done."""
    return (
        select(ContactRow)
        .where(
            ContactRow.campaign_id == campaign_id,
            ContactRow.state == ContactState.PENDING.value,
            ContactRow.next_due_at <= now,
        )
        .order_by(ContactRow.next_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def _defer(contact: ContactRow, at: datetime | None, reason: str, result: DispatchResult) -> None:
    if at is None:
        contact.state = contact_transition(ContactState.PENDING, ContactEvent.EXHAUST).state
        contact.closed_reason = "the calling window never opens again"
        contact.next_due_at = None
        result.closed += 1
        return
    contact.next_due_at = at
    contact.waiting_reason = reason


def claim_due_contacts(
    session: Session,
    *,
    campaign_id: int,
    run_id: int | None,
    spec: CampaignSpec,
    now: datetime,
    limit: int,
) -> DispatchResult:
    """Claim up to `limit` due contacts, gate each, create their attempts; never commits.

    Contacts outside their window get their due time moved to the next opening (so they are not
    rescanned every tick); those held back by `min_gap`/`per_day`/`per_week` likewise; numbers on
    the do-not-call list are suppressed.
    """
    result = DispatchResult()
    contacts = list(session.scalars(due_contacts(campaign_id, now, limit)))
    if not contacts:
        return result
    blocked = blocked_numbers(session, (c.phone for c in contacts), now)
    retry = spec.retry
    caps_apply = bool(retry.per_day or retry.per_week or retry.min_gap)
    history = histories(session, [c.id for c in contacts]) if caps_apply else {}
    margin = ring_margin(spec)
    new_rows: list[dict[str, Any]] = []
    for contact in contacts:
        if contact.phone in blocked:
            contact.state = contact_transition(ContactState.PENDING, ContactEvent.SUPPRESS).state
            contact.closed_reason = "on the do-not-call list"
            result.suppressed += 1
            continue
        zones = spec.window.zones_for(contact.zones)
        if not spec.window.is_open(now, zones, margin):
            _defer(contact, spec.window.next_open(now, zones, margin), "window", result)
            result.window_closed += 1
            continue
        if caps_apply:
            earliest = retry.earliest_allowed(history[contact.id], now, zones[0])
            if earliest > now:
                _defer(contact, spec.window.next_open(earliest, zones, margin), "frequency", result)
                result.capped += 1
                continue
        contact.state = contact_transition(ContactState.PENDING, ContactEvent.DISPATCH).state
        contact.attempts += 1
        contact.waiting_reason = None
        new_rows.append(
            {
                "campaign_id": campaign_id,
                "run_id": run_id,
                "contact_id": contact.id,
                "number": contact.attempts,
                "phone": contact.phone,
                "trunk": spec.gateway.trunk,
                "state": AttemptState.QUEUED.value,
                "queued_at": now,
            }
        )
    session.flush()
    if new_rows:
        ids = session.scalars(insert(AttemptRow).returning(AttemptRow.id), new_rows)
        result.attempt_ids = list(ids)
    return result
