"""Claiming due contacts: the dispatcher's one transaction per campaign per tick.

Claim, gate and create attempts in one transaction with `FOR UPDATE SKIP LOCKED`, so any number of
dispatcher replicas run without a leader and never claim one contact twice; the Celery messages go
out only after commit (a message lost in between is re-sent by the sweeper).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    CTE,
    BindParameter,
    Select,
    any_,
    bindparam,
    func,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.selectable import LateralFromClause

from campaign.db.engine import DriverStatement, run_in
from campaign.db.tables import AttemptRow, ContactRow
from campaign.domain import gates
from campaign.domain.account import DEFAULT, TrunkLimit, trunk_name
from campaign.domain.pacing import TrunkShare
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
from campaign.services import account, gating


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


_WAITING = (AttemptState.QUEUED.value, AttemptState.DIALING.value)
# Built once: the dispatcher runs these every tick, and building a statement costs more CPU than
# running it (SQLAlchemy's compiled cache still needs the statement object to look it up).
_OPEN = [*_WAITING, *(s.value for s in ATTEMPT_LIVE)]
_OPEN_COUNTS = DriverStatement(
    select(AttemptRow.state, func.count())
    .where(
        AttemptRow.campaign_id == bindparam("campaign_id"),
        AttemptRow.state == any_(literal(_OPEN, ARRAY(AttemptRow.state.type))),
    )
    .group_by(AttemptRow.state)
)


_TRUNK = func.coalesce(AttemptRow.trunk, DEFAULT)  # `trunk_name`, in SQL
_TRUNK_OPEN = DriverStatement(
    select(_TRUNK, func.count())
    .where(AttemptRow.state == any_(literal(_OPEN, ARRAY(AttemptRow.state.type))))
    .group_by(_TRUNK)
)


def trunk_shares(
    session: Session, environment: TrunkLimit, specs: Collection[CampaignSpec]
) -> dict[str, TrunkShare]:
    """What each trunk of `specs` allows now (by `trunk_name`), under the account policy in force
    (`environment` under it): its cps, and its live-call cap minus the attempts open on it
    (queued, dialing or live) of every campaign. The open attempts are counted only when some
    trunk is capped, and nothing is read when no campaign runs."""
    if not specs:
        return {}
    policy = account.current(session)
    limits = {
        trunk_name(s.gateway.trunk): policy.trunk_limit(s.gateway.trunk, environment) for s in specs
    }
    capped = any(limit.max_live_calls is not None for limit in limits.values())
    open_on: dict[str, int] = dict(run_in(session, _TRUNK_OPEN, {})) if capped else {}
    return {
        name: TrunkShare(
            cps=limit.cps,
            room=None
            if limit.max_live_calls is None
            else limit.max_live_calls - open_on.get(name, 0),
        )
        for name, limit in limits.items()
    }


def open_attempt_counts(session: Session, campaign_id: int) -> tuple[int, int]:
    """(live, queued) attempts of a campaign: calls out, and attempts not yet sent."""
    live = queued = 0
    for state, count in run_in(session, _OPEN_COUNTS, {"campaign_id": campaign_id}):
        if state in _WAITING:
            queued += count
        else:
            live += count
    return live, queued


def _due_walk(
    campaign_id: int | BindParameter[int],
    now: datetime | BindParameter[datetime],
    limit: int | BindParameter[int],
    *,
    lock: bool,
) -> tuple[CTE, LateralFromClause]:
    """The priority levels and, laterally per level, the due contacts (see `due_contacts`)."""
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
    return levels, due.lateral("due")


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
    levels, in_level = _due_walk(campaign_id, now, limit, lock=lock)
    return (
        select(aliased(ContactRow, in_level))
        .select_from(levels)
        .join(in_level, true())
        .limit(limit)
    )


class DueContact(NamedTuple):
    """What the claim and its gates read of a due contact: plain values, no ORM object (the
    claim runs every tick for hundreds of contacts; loading entities, their metadata JSON
    included, cost more than the rest of the claim)."""

    id: int
    phone: str
    zones: list[str]
    priority: int
    next_due_at: datetime | None
    region: str | None
    consent: bool | None


def _due_rows() -> Select[Any]:
    """`due_contacts` (the same walk and locks) reading only `DueContact`'s columns, with the
    campaign, time and limit as parameters."""
    levels, in_level = _due_walk(
        bindparam("campaign_id"), bindparam("now"), bindparam("limit"), lock=True
    )
    columns = [in_level.c[name] for name in DueContact._fields]
    return select(*columns).select_from(levels).join(in_level, true()).limit(bindparam("limit"))


_DUE_ROWS = _due_rows()  # built once, as `_OPEN_COUNTS`


# The open contacts go in flight and get their attempts in one statement (the contacts are locked
# by the claim; `updated_at` is set as `ContactRow`'s onupdate would). Attempt ids are drawn in
# the order of `ids` (priority, then due time), so sorting them keeps that order for the enqueue.
_DISPATCH = text(
    """
    WITH dispatched AS (
        UPDATE contacts
        SET state = :in_flight, attempts = attempts + 1, waiting_reason = NULL,
            updated_at = now()
        WHERE id = ANY(CAST(:ids AS bigint[]))
        RETURNING id, attempts, phone
    )
    INSERT INTO attempts (campaign_id, run_id, contact_id, number, phone, trunk, state, queued_at)
    SELECT CAST(:campaign_id AS bigint), CAST(:run_id AS bigint), d.id, d.attempts, d.phone,
           CAST(:trunk AS text), CAST(:queued AS text), CAST(:now AS timestamptz)
    FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS o(id, n)
    JOIN dispatched d ON d.id = o.id
    ORDER BY o.n
    RETURNING id
    """
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
    the do-not-call list are suppressed. The rest go in flight with their attempts in one
    statement (`_DISPATCH`).
    """
    result = DispatchResult()
    params = {"campaign_id": campaign_id, "now": now, "limit": limit}
    contacts = [DueContact(*row) for row in session.execute(_DUE_ROWS, params)]
    if not contacts:
        return result
    contacts.sort(key=lambda row: (-row.priority, row.next_due_at or now))
    verdicts = gating.check(session, spec, CampaignState.RUNNING, contacts, now)
    held: dict[int, gates.Defer | gates.Close] = {}
    open_ids: list[int] = []
    for contact in contacts:
        verdict = verdicts[contact.id]
        if isinstance(verdict, gates.Open):
            open_ids.append(contact.id)
        else:
            held[contact.id] = verdict
            result.count(verdict)
    if held:
        # Already locked by the claim; loaded as objects only to go through the contact machine,
        # in claim order (a closed contact's event goes out in that order).
        rows = session.scalars(select(ContactRow).where(ContactRow.id.in_(list(held))))
        by_id = {row.id: row for row in rows}
        for contact_id, verdict in held.items():
            gating.hold(session, by_id[contact_id], verdict, spec.events)
        session.flush()
    if open_ids:
        ids = session.scalars(
            _DISPATCH,
            {
                "ids": open_ids,
                "in_flight": contact_transition(
                    ContactState.PENDING, ContactEvent.DISPATCH
                ).state.value,
                "campaign_id": campaign_id,
                "run_id": run_id,
                "trunk": spec.gateway.trunk,
                "queued": AttemptState.QUEUED.value,
                "now": now,
            },
        )
        result.attempt_ids = sorted(ids)
    return result
