"""The outbox as operators see it: counts for `status`, a paged list, and replay.

Replay puts delivered and dead events back to `pending`, due now, with their ids and order kept:
a receiver that deduplicates by id sees nothing new, one that lost its copy gets it again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaign.db.tables import EventRow
from campaign.domain.operator_times import read_time
from campaign.errors import InvalidInput
from campaign.services import audit
from campaign.services.campaigns import get_campaign_row
from campaign.services.event_outbox import DEAD, DELIVERED, PENDING


@dataclass(frozen=True)
class EventView:
    """One outbox row as the API lists it."""

    id: str
    type: str
    destination: str
    contact_id: int | None
    created_at: datetime
    state: str
    tries: int
    failing_since: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    data: dict[str, Any]


def pending_events(session: Session) -> int:
    """Events of every campaign not yet delivered (nor dead): the outbox gauge."""
    return int(session.scalar(select(func.count()).where(EventRow.state == PENDING)) or 0)


def outbox(session: Session, campaign_id: int) -> dict[str, Any]:
    """`status`'s `events` block: pending, failing (and since when), dead, delivered."""
    pending = EventRow.state == PENDING
    row = session.execute(
        select(
            func.count().filter(pending),
            func.count().filter(pending, EventRow.failing_since.is_not(None)),
            func.min(EventRow.failing_since).filter(pending),
            func.count().filter(EventRow.state == DEAD),
            func.count().filter(EventRow.state == DELIVERED),
        ).where(EventRow.campaign_id == campaign_id)
    ).one()
    since: datetime | None = row[2]
    return {
        "pending": row[0],
        "failing": row[1],
        "failing_since": since.isoformat() if since else None,
        "dead": row[3],
        "delivered": row[4],
    }


def list_events(
    session: Session, campaign_id: int, *, state: str | None, limit: int, offset: int
) -> tuple[int, list[EventView]]:
    """(total, one page) of the campaign's events, oldest first, optionally of one state."""
    get_campaign_row(session, campaign_id)
    where = [EventRow.campaign_id == campaign_id]
    if state is not None:
        where.append(EventRow.state == state)
    total = session.scalar(select(func.count()).where(*where)) or 0
    rows = session.scalars(
        select(EventRow).where(*where).order_by(EventRow.id).limit(limit).offset(offset)
    )
    views = [
        EventView(
            id=r.event_id,
            type=r.type,
            destination=r.destination,
            contact_id=r.contact_id,
            created_at=r.created_at,
            state=r.state,
            tries=r.tries,
            failing_since=r.failing_since,
            last_error=r.last_error,
            delivered_at=r.delivered_at,
            data=r.data,
        )
        for r in rows
    ]
    return int(total), views


@dataclass(frozen=True)
class Replayed:
    """How many events of a campaign were queued again."""

    id: int
    replayed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_since(value: str) -> datetime:
    """`--since`: an ISO time with offset, or a date (its midnight, UTC)."""
    at = read_time(value, now=None)
    if at is None:
        raise InvalidInput(
            f'since "{value}": expected an ISO time with offset (2026-12-01T09:00:00+00:00) '
            "or a date (2026-12-01)"
        )
    return at.astimezone(UTC)


def replay(session: Session, campaign_id: int, *, since: datetime | None) -> Replayed:
    """Queue the campaign's delivered and dead events again (created at or after `since`)."""
    get_campaign_row(session, campaign_id)
    query = update(EventRow).where(
        EventRow.campaign_id == campaign_id, EventRow.state.in_([DELIVERED, DEAD])
    )
    if since is not None:
        query = query.where(EventRow.created_at >= since)
    result = session.execute(
        query.values(
            state=PENDING, next_at=func.now(), tries=0, failing_since=None, last_error=None
        ).returning(EventRow.id)
    )
    replayed = Replayed(campaign_id, len(result.all()))
    detail = {"replayed": replayed.replayed, "since": since.isoformat() if since else None}
    audit.record(session, "events.replay", campaign_id=campaign_id, detail=detail)
    return replayed
