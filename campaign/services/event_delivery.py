"""The delivery side of the events outbox: claim due events, POST them signed, record the result.

- Claim: due `pending` rows that are the first waiting event of their contact (or, for a
  campaign's own events, of their campaign) for their destination (the ordering rule),
  `FOR UPDATE SKIP LOCKED` so deliverers never wait on each other, leased for `LEASE` (their
  `next_at` moved on) and committed before any HTTP: no lock or transaction is held across a
  CRM's answer, and a deliverer that dies mid-send leaves its rows to be claimed again once the
  lease ends (at least once).
- Send: short timeouts; a 2xx is delivered, anything else a failure retried on the schedule of
  `domain.event_delivery` until the event is dead.
- Nothing here runs on the dial path: its own Celery queue, kicked by the sweeper.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from campaign import metrics
from campaign.db.engine import transaction
from campaign.db.tables import CampaignRow, EventRow
from campaign.domain import event_delivery as rules
from campaign.services.event_outbox import CAMPAIGN, DEAD, DELIVERED, PENDING
from campaign.services.specs import load_spec

logger = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
"""How long a claimed event is left to its deliverer: far above a send's timeouts."""
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
"""A slow CRM costs a deliverer at most this per event, never a dial."""


@dataclass(frozen=True)
class Target:
    """Where one event goes, and the secret it is signed with."""

    url: str
    secret: str


@dataclass
class Delivered:
    """What one delivery pass did."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def _claim(session: Session, now: datetime, limit: int) -> list[EventRow]:
    earlier = aliased(EventRow)
    # A contact's events wait for its earlier ones; a campaign's own (`campaign.state`, with no
    # contact) wait for its earlier own ones.
    same_line = (earlier.contact_id == EventRow.contact_id) | (
        earlier.contact_id.is_(None) & EventRow.contact_id.is_(None)
    )
    blocked = exists().where(
        earlier.state == PENDING,
        earlier.campaign_id == EventRow.campaign_id,
        earlier.destination == EventRow.destination,
        earlier.id < EventRow.id,
        same_line,
    )
    rows = list(
        session.scalars(
            select(EventRow)
            .where(EventRow.state == PENDING, EventRow.next_at <= now, ~blocked)
            .order_by(EventRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for row in rows:
        row.next_at = now + LEASE
    return rows


def _targets(
    session: Session, rows: list[EventRow], global_target: Target | None
) -> dict[int, Target | None]:
    """Each row's destination as configured now (None: it has none any more)."""
    campaign_ids = {row.campaign_id for row in rows if row.destination == CAMPAIGN}
    specs = dict(
        session.execute(
            select(CampaignRow.id, CampaignRow.spec).where(CampaignRow.id.in_(campaign_ids))
        )
        .tuples()
        .all()
    )
    out: dict[int, Target | None] = {}
    for row in rows:
        if row.destination != CAMPAIGN:
            out[row.id] = global_target
            continue
        events = load_spec(specs[row.campaign_id]).events if row.campaign_id in specs else None
        out[row.id] = Target(events.url, events.secret) if events is not None else None
    return out


def _send(client: httpx.Client, row: EventRow, target: Target, at: datetime) -> str | None:
    """POST one event; None when the receiver took it (2xx), else why not."""
    raw = rules.body(row.event_id, row.type, row.created_at, row.data)
    headers = {
        "Content-Type": "application/json",
        rules.SIGNATURE_HEADER: rules.sign(target.secret, raw, int(at.timestamp())),
    }
    try:
        response = client.post(target.url, content=raw, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if response.is_success:
        return None
    return f"HTTP {response.status_code}"


def deliver_due(
    sessions: sessionmaker[Session],
    *,
    client: httpx.Client,
    global_target: Target | None,
    now: Callable[[], datetime],
    rng: random.Random,
    limit: int,
) -> Delivered:
    """One pass: claim up to `limit` due events, send each, record every result."""
    result = Delivered()
    with transaction(sessions) as session:
        rows = _claim(session, now(), limit)
        targets = _targets(session, rows, global_target)
    result.claimed = len(rows)
    outcomes: list[tuple[EventRow, str | None]] = []
    # A destination that failed once in this pass is not tried again in it: a CRM that hangs
    # costs a pass one timeout, not one per event (its rows fail with the same error).
    failing: dict[Target, str] = {}
    for row in rows:
        target = targets[row.id]
        if target is None:
            error: str | None = "no destination configured any more"
        elif target in failing:
            error = failing[target]
        else:
            error = _send(client, row, target, now())
            if error is not None:
                failing[target] = error
        outcomes.append((row, error))
    with transaction(sessions) as session:
        for row, error in outcomes:
            _record(session, row, error, now(), rng, result)
    return result


def _record(
    session: Session,
    row: EventRow,
    error: str | None,
    at: datetime,
    rng: random.Random,
    result: Delivered,
) -> None:
    values: dict[str, object] = {"tries": row.tries + 1}
    if error is None:
        values.update(state=DELIVERED, delivered_at=at, failing_since=None, last_error=None)
        result.delivered += 1
        metrics.EVENTS.labels("delivered").inc()
    else:
        since = row.failing_since or at
        values.update(failing_since=since, last_error=error)
        verdict = rules.after_failure(row.tries + 1, since, at, rng)
        if isinstance(verdict, rules.Retry):
            values.update(next_at=verdict.at)
            result.failed += 1
            metrics.EVENTS.labels("failed").inc()
        else:
            values.update(state=DEAD)
            result.dead += 1
            metrics.EVENTS.labels("dead").inc()
            logger.warning("event %s to %s is dead: %s", row.event_id, row.destination, error)
        result.errors.append(error)
    # Conditional on the lease this pass took: a replay or a second claimer meanwhile wins.
    session.execute(
        update(EventRow)
        .where(EventRow.id == row.id, EventRow.state == PENDING, EventRow.tries == row.tries)
        .values(**values)
    )


def has_due(session: Session, now: datetime) -> bool:
    """Whether any event waits to be sent (the sweeper's cheap check before kicking delivery)."""
    due = select(EventRow.id).where(EventRow.state == PENDING, EventRow.next_at <= now).limit(1)
    return session.scalar(due) is not None
