"""Claiming due contacts: the dispatcher's one transaction per campaign per tick.

Claim, gate and create attempts in one transaction with `FOR UPDATE SKIP LOCKED`, so any number of
dispatcher replicas run without a leader and never claim one contact twice; the Celery messages go
out only after commit (a message lost in between is re-sent by the sweeper).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, select, true
from sqlalchemy.orm import Session, aliased

from campaign.db.tables import AttemptRow, ContactRow
from campaign.domain import gates
from campaign.domain.reasons import Closed, Waiting
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import (
    ATTEMPT_LIVE,
    AttemptState,
    CampaignState,
    ContactEvent,
    ContactState,
    contact_transition,
)
from campaign.services import gating


@dataclass
class DispatchResult:
    """What one claim did; the counts feed metrics and `status`."""

    attempt_ids: list[int] = field(default_factory=list)
    window_closed: int = 0
    capped: int = 0
    suppressed: int = 0
    closed: int = 0

    def count(self, verdict: gates.Defer | gates.Close) -> None:
        """Tally a contact a gate held back."""
        if isinstance(verdict, gates.Defer):
            if verdict.reason is Waiting.WINDOW:
                self.window_closed += 1
            else:
                self.capped += 1
        elif verdict.reason is Closed.DO_NOT_CALL:
            self.suppressed += 1
        else:
            self.closed += 1


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


def due_contacts(
    campaign_id: int, now: datetime, limit: int, *, lock: bool = True
) -> Select[tuple[ContactRow]]:
    """The claim: due pending contacts, higher priority first, then earlier due time.

    A loose index scan of `ix_contacts_due` (campaign, priority DESC, due time; pending only): a
    recursive CTE finds the campaign's distinct priority levels, one index probe each (at most
    `PRIORITY_LEVELS`), and for each level in turn a range scan takes the contacts due by `now`
    until `limit` are found. So the cost depends on the batch and the number of levels, never on
    the size of the list, how much of it is done, or how many contacts are due later: a single
    (priority, due time) range would read every not-yet-due entry of a higher level first.
    Rows come out level by level (the nested loop's order; the caller sorts what it claimed).
    `lock` takes them `FOR UPDATE SKIP LOCKED`, so concurrent claimers never share a contact.
    """
    c = ContactRow
    pending = (c.campaign_id == campaign_id, c.state == ContactState.PENDING.value)
    top = select(c.priority.label("level")).where(*pending).order_by(c.priority.desc()).limit(1)
    levels = top.cte("levels", recursive=True)
    below = (
        select(c.priority)
        .where(*pending, c.priority < levels.c.level)
        .order_by(c.priority.desc())
        .limit(1)
        .scalar_subquery()
    )
    levels = levels.union_all(select(below).where(levels.c.level.is_not(None)))
    due = (
        select(c)
        .where(*pending, c.priority == levels.c.level, c.next_due_at <= now)
        .order_by(c.next_due_at)
        .limit(limit)
    )
    if lock:
        due = due.with_for_update(skip_locked=True)
    in_level = due.lateral("due")
    return (
        select(aliased(ContactRow, in_level))
        .select_from(levels)
        .join(in_level, true())
        .limit(limit)
    )


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

    Contacts a gate holds back (outside their window, `min_gap`/`per_day`/`per_week`) get their
    due time moved to the gate's next opening, so they are not rescanned every tick; numbers on
    the do-not-call list are suppressed.
    """
    result = DispatchResult()
    contacts = list(session.scalars(due_contacts(campaign_id, now, limit)))
    if not contacts:
        return result
    contacts.sort(key=lambda row: (-row.priority, row.next_due_at or now))
    verdicts = gating.check(session, spec, CampaignState.RUNNING, contacts, now)
    new_rows: list[dict[str, Any]] = []
    for contact in contacts:
        verdict = verdicts[contact.id]
        if not isinstance(verdict, gates.Open):
            gating.hold(session, contact, verdict, spec.events)
            result.count(verdict)
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
