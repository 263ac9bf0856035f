"""Choosing the caller ID of one dial from the campaign's pool (`domain.caller_pool`).

No database round trip on the hot path: the pool's order is pure, the round-robin turn is one
Redis INCR (skipped for a single caller), and a capped pool costs one Lua call; PostgreSQL is read
only to fill a day's counts (`caller_counts.CallerCounts.seed`), once per campaign and day or
after Redis lost them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from campaign.caller_counts import NOT_SEEDED, CallerCounts
from campaign.db.tables import AttemptRow
from campaign.domain import gates
from campaign.domain.caller_pool import caller_day, day_bounds, day_zone
from campaign.domain.reasons import Waiting
from campaign.domain.spec import CampaignSpec
from campaign.services.claims import Claimed


@dataclass(frozen=True)
class Chosen:
    """The caller a dial shows, and the day it counts toward (None: the pool has no cap)."""

    caller: str
    day: date | None = None


def calls_of_day(
    session: Session, campaign_id: int, callers: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[int]]:
    """The campaign's sent attempts in [start, end), by caller (`ix_attempts_caller_calls`)."""
    rows = session.execute(
        select(AttemptRow.caller, AttemptRow.id).where(
            AttemptRow.campaign_id == campaign_id,
            AttemptRow.caller.is_not(None),
            AttemptRow.sending_at.is_not(None),
            AttemptRow.caller.in_(callers),
            AttemptRow.sending_at >= start,
            AttemptRow.sending_at < end,
        )
    )
    found: dict[str, list[int]] = {caller: [] for caller in callers}
    for caller, attempt_id in rows:
        found[caller].append(attempt_id)
    return found


def choose(
    counts: CallerCounts,
    sessions: sessionmaker[Session],
    spec: CampaignSpec,
    claim: Claimed,
    now: datetime,
) -> Chosen | gates.Defer:
    """The caller for `claim`'s dial, counted toward its day when the pool is capped; a Defer to
    the next day when every caller of the pool has had its calls today."""
    pool = spec.gateway.callers
    turn = counts.turn(claim.campaign_id) if pool.needs_turn else 0
    ranked = pool.ranked(claim.phone, turn)
    cap = pool.max_calls_per_day
    if cap is None:
        return Chosen(ranked[0])
    zone = day_zone(spec.window.timezone_mode, spec.window.fallback_timezone)
    day = caller_day(now, zone)
    member = str(claim.attempt_id)
    taken = counts.take(claim.campaign_id, day, ranked, cap, member)
    if taken == NOT_SEEDED:
        with sessions() as session:
            calls = calls_of_day(session, claim.campaign_id, pool.numbers, *day_bounds(day, zone))
        counts.seed(claim.campaign_id, day, calls)
        taken = counts.take(claim.campaign_id, day, ranked, cap, member)
    if not isinstance(taken, str):
        return gates.Defer(day_bounds(day, zone)[1], Waiting.CALLER_CAP)
    return Chosen(taken, day)


def give_back(counts: CallerCounts, claim: Claimed, chosen: Chosen) -> None:
    """The dial was not sent: its caller's place of the day is free again."""
    if chosen.day is not None:
        counts.give_back(claim.campaign_id, chosen.day, chosen.caller, str(claim.attempt_id))
