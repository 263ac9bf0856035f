"""The do-not-call list as the hot paths see it: a set lookup per batch, expiry honoured."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ARRAY, any_, bindparam, or_, select
from sqlalchemy.orm import Session

from campaign.db.engine import DriverStatement, run_in
from campaign.db.tables import DncRow

_BLOCKED = DriverStatement(
    select(DncRow.phone).where(
        DncRow.phone == any_(bindparam("phones", type_=ARRAY(DncRow.phone.type))),
        or_(DncRow.expires_at.is_(None), DncRow.expires_at > bindparam("now")),
    )
)
"""Built and compiled once, the batch as one array value: the dispatcher asks every claim."""


def blocked_numbers(session: Session, phones: Iterable[str], now: datetime) -> set[str]:
    """Which of `phones` are on the do-not-call list right now (one query for the whole batch)."""
    wanted = list(set(phones))
    if not wanted:
        return set()
    return {phone for (phone,) in run_in(session, _BLOCKED, {"phones": wanted, "now": now})}
