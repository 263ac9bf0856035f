"""The audit trail: every operator action, who did it, when, and what it changed.

A row is written by the service that does the action, in the action's own transaction, so the
trail holds exactly what was committed: an action that failed and rolled back leaves no row, and
none is ever missing for one that happened. Who acts is part of the unit of work: an entry point
names it once on the session (`act_as`: the API key's name, or `cli:<os user>`); work with no
named actor (the demo, a test calling a service) is recorded as `system`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db.tables import AuditRow
from campaign.domain.operator_times import read_time
from campaign.errors import InvalidInput

SYSTEM = "system"
_ACTOR = "campaign.actor"


def act_as(session: Session, actor: str) -> Session:
    """Name who acts in `session`'s unit of work; returns the session for chaining."""
    session.info[_ACTOR] = actor
    return session


def actor_of(session: Session) -> str:
    """Who acts in `session` (SYSTEM when no entry point named anyone)."""
    actor: str = session.info.get(_ACTOR, SYSTEM)
    return actor


def record(
    session: Session,
    action: str,
    *,
    campaign_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one entry to the trail in `session`'s transaction (committed with the action)."""
    session.add(
        AuditRow(
            actor=actor_of(session),
            action=action,
            campaign_id=campaign_id,
            before=before,
            after=after,
            detail=detail,
        )
    )


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action as operator surfaces show it."""

    id: int
    at: datetime
    actor: str
    action: str
    campaign_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "campaign_id": self.campaign_id,
            "before": self.before,
            "after": self.after,
            "detail": self.detail,
        }


def entries(
    session: Session,
    *,
    campaign_id: int | None = None,
    since: datetime | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[AuditEntry]:
    """Recorded actions, oldest first: of one campaign, and at or after `since`, when given."""
    query = select(AuditRow).order_by(AuditRow.id).limit(limit).offset(offset)
    if campaign_id is not None:
        query = query.where(AuditRow.campaign_id == campaign_id)
    if since is not None:
        query = query.where(AuditRow.at >= since)
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            campaign_id=row.campaign_id,
            before=row.before,
            after=row.after,
            detail=row.detail,
        )
        for row in session.scalars(query)
    ]


def parse_since(value: str, now: datetime) -> datetime:
    """`--since` as operators write it: a duration back from now (`2h`, `7d`), a date (from its
    start, UTC), or an ISO 8601 instant with its offset."""
    at = read_time(value, now=now, back=True)
    if at is None:
        raise InvalidInput(
            f'since "{value}": expected a duration (2h), a date (2026-12-01) or an ISO time '
            "with offset (2026-12-01T09:00:00+00:00)"
        )
    return at
