"""The do-not-call list as the hot paths see it: a set lookup per batch, expiry honoured."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from campaign.db.tables import DncRow


def blocked_numbers(session: Session, phones: Iterable[str], now: datetime) -> set[str]:
    """Which of `phones` are on the do-not-call list right now (one query for the whole batch)."""
    wanted = list(set(phones))
    if not wanted:
        return set()
    rows = session.scalars(
        select(DncRow.phone).where(
            DncRow.phone.in_(wanted), or_(DncRow.expires_at.is_(None), DncRow.expires_at > now)
        )
    )
    return set(rows)
