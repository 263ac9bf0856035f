"""Notifications: store each status POST durably (deduplicated), then apply it to its attempt.

Storing and applying are separate steps so the receiver can answer SAVG as soon as the body is
safe in PostgreSQL; applying runs in a worker and changes state only through the attempt machine,
so duplicates and regressions (an `answered` after `completed`) change nothing.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Text, cast, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from campaign import log
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, NotificationRow
from campaign.domain.outcomes import STATUS_EVENT, Notification, classify, parse_notification
from campaign.domain.states import (
    ATTEMPT_FINAL,
    AttemptEvent,
    AttemptState,
    attempt_transition,
)
from campaign.errors import NotFound, NotificationInvalid
from campaign.services.leases import Leases
from campaign.services.redial import close_attempt
from campaign.services.specs import spec_for


@dataclass(frozen=True)
class Stored:
    """The inbox row holding a notification; `created` is False for a duplicate body."""

    notification_id: int
    created: bool


def store_notification(
    session: Session,
    *,
    attempt_id: int,
    body: bytes,
    headers: Mapping[str, str],
    status: str | None,
    now: datetime,
) -> Stored:
    """Insert the raw body unless the same body was already stored for this attempt.

    One statement: the foreign key refuses an attempt that does not exist (NotFound), and the
    unique key a duplicate body (the stored row's id is looked up only then). No savepoint around
    it: a refused insert ends the caller's transaction anyway (NotFound rolls it back), and the
    savepoint cost two more round trips per notification.
    """
    key = hashlib.sha256(body).hexdigest()
    try:
        new_id = session.scalar(
            insert(NotificationRow)
            .values(
                attempt_id=attempt_id,
                received_at=now,
                body=body,
                headers=dict(headers),
                dedupe_key=key,
                status=status,
            )
            .on_conflict_do_nothing(constraint="uq_notifications_dedupe")
            .returning(NotificationRow.id)
        )
    except IntegrityError as exc:  # the attempt's foreign key: a campaign deleted meanwhile
        raise NotFound("unknown notification token") from exc
    if new_id is not None:
        return Stored(new_id, created=True)
    existing = session.scalar(
        select(NotificationRow.id).where(
            NotificationRow.attempt_id == attempt_id, NotificationRow.dedupe_key == key
        )
    )
    if existing is None:  # pragma: no cover - the conflicting row cannot vanish in between
        raise NotFound("notification disappeared")
    return Stored(existing, created=False)


def _record_call_facts(attempt: AttemptRow, n: Notification, now: datetime) -> None:
    if n.conversation_id and not attempt.conversation_id:
        attempt.conversation_id = n.conversation_id
    attempt.reason_code = n.reason_code or attempt.reason_code
    attempt.reason = n.reason or attempt.reason
    attempt.sip_code = n.sip_code if n.sip_code is not None else attempt.sip_code
    attempt.amd = n.amd or attempt.amd
    attempt.duration_s = n.duration_s if n.duration_s is not None else attempt.duration_s


class Applied(StrEnum):
    """What applying one notification did (a metric label; the inbox row keeps the detail)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # it repeats what the attempt already knows
    REGRESSION = "regression"  # `answered` after a final: the final stands
    IGNORED = "ignored"  # unreadable, or a status that carries no state change
    ALREADY = "already processed"  # a re-delivered task: the row was applied before


def apply_notification(
    session: Session,
    notification_id: int,
    *,
    leases: Leases,
    now: datetime,
    rng: random.Random,
) -> Applied:
    """Apply one stored notification; the inbox row records what it did and why.

    The attempt row is locked, so notifications of one call are applied one at a time in any order.
    """
    row = session.get(NotificationRow, notification_id)
    if row is None:
        raise NotFound(f"notification {notification_id} not found")
    if row.processed_at is not None:
        return Applied.ALREADY
    return _apply_row(session, row, leases=leases, now=now, rng=rng)


def _apply_row(
    session: Session, row: NotificationRow, *, leases: Leases, now: datetime, rng: random.Random
) -> Applied:
    attempt = session.get_one(AttemptRow, row.attempt_id, with_for_update=True)
    log.bind(attempt_id=attempt.id, campaign_id=attempt.campaign_id)
    result, why = _apply(session, row, attempt, leases=leases, now=now, rng=rng)
    row.processed_at = now
    row.result = f"{result.value}: {why}"[:200] if why else result.value
    return result


def _apply(
    session: Session,
    row: NotificationRow,
    attempt: AttemptRow,
    *,
    leases: Leases,
    now: datetime,
    rng: random.Random,
) -> tuple[Applied, str | None]:
    try:
        n = parse_notification(row.body)
    except NotificationInvalid as exc:
        return Applied.IGNORED, str(exc)
    row.status = n.status.value
    event = STATUS_EVENT[n.status]
    if event is None:
        return Applied.IGNORED, f"status {n.status_raw!r} carries no state change"
    before = AttemptState(attempt.state)
    transition = attempt_transition(before, event)
    if not transition.changed:
        regression = before in ATTEMPT_FINAL and event is AttemptEvent.ANSWER
        return (Applied.REGRESSION if regression else Applied.DUPLICATE), None
    _record_call_facts(attempt, n, now)
    if transition.state not in ATTEMPT_FINAL:  # `answered`: the call goes on
        attempt.state = transition.state.value
        attempt.answered_at = now
        return Applied.APPLIED, None
    digest = session.scalar(
        select(func.md5(cast(CampaignRow.spec, Text))).where(CampaignRow.id == attempt.campaign_id)
    )
    spec = spec_for(session, attempt.campaign_id, digest or "")
    outcome = classify(n, amd_enabled=spec.gateway.amd_enabled)
    if outcome is None:  # pragma: no cover - finals always classify
        return Applied.APPLIED, None
    if n.status.value == "completed" and attempt.answered_at is None:
        attempt.answered_at = now  # `completed` overtook `answered`: it was answered all the same
    close_attempt(
        session, attempt, event=event, outcome=outcome, spec=spec, now=now, rng=rng, leases=leases
    )
    return Applied.APPLIED, None


DRAIN_SHARDS = 8
"""Consumers that drain the inbox at once, each its own share of the attempts (`attempt_id %
DRAIN_SHARDS`): their rows are disjoint, so they never queue on one another's row locks, and the
notifications of one call stay with one consumer. One consumer for all rows applied finals one
at a time (~8 ms each): at 100 finals/s its backlog, and so the decisions' latency, only grew."""


def shard_of(attempt_id: int) -> int:
    """The consumer share an attempt's notifications belong to."""
    return attempt_id % DRAIN_SHARDS


def drain_inbox(
    sessions: sessionmaker[Session],
    *,
    leases: Leases,
    now: Callable[[], datetime],
    rng: random.Random,
    limit: int,
    received_before: datetime | None = None,
    shard: int | None = None,
) -> list[Applied]:
    """Apply up to `limit` unprocessed inbox rows, oldest first, each in its own transaction;
    only those of `shard` (see DRAIN_SHARDS) when it is given.

    One transaction per row, not per batch: applying locks the attempt then its contact, and a
    batch holding many of them would deadlock with a verb that locks a campaign's contacts in
    another order (`cancel`). `SKIP LOCKED`: several consumers (and the sweeper) drain at once
    without waiting on each other or applying a row twice. `received_before` limits the sweeper
    to rows a consumer should have taken by now.
    """
    query = (
        select(NotificationRow.id)
        .where(NotificationRow.processed_at.is_(None))
        .order_by(NotificationRow.id)
        .limit(limit)
    )
    if received_before is not None:
        query = query.where(NotificationRow.received_at < received_before)
    if shard is not None:
        query = query.where(NotificationRow.attempt_id % DRAIN_SHARDS == shard)
    with sessions() as session:
        ids = list(session.scalars(query))
    results = []
    for notification_id in ids:
        with transaction(sessions) as session:
            # Locked (or skipped, when another drain has it) in the statement that loads it.
            row = session.scalar(
                select(NotificationRow)
                .where(
                    NotificationRow.id == notification_id, NotificationRow.processed_at.is_(None)
                )
                .with_for_update(skip_locked=True)
            )
            if row is not None:
                results.append(_apply_row(session, row, leases=leases, now=now(), rng=rng))
    return results
