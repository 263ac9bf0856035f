"""Notifications: apply each stored status POST to its attempt (the consumer's side).

The receiver stores every body durably, deduplicated (`services.intake`, one statement), so it
can answer SAVG as soon as the body is safe in PostgreSQL; applying runs in a worker and changes
state only through the attempt machine, so duplicates and regressions (an `answered` after
`completed`) change nothing.
"""

from __future__ import annotations

import functools
import random
import typing
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Table,
    Text,
    Update,
    bindparam,
    cast,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from campaign import log
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, Base, CampaignRow, ContactRow, NotificationRow
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
    """Apply one stored notification in `session`'s transaction; the inbox row records what it
    did and why. What `drain_inbox` does for each of its rows.

    The attempt row is locked, so notifications of one call are applied one at a time in any order.
    """
    applied = _apply_loaded(session, notification_id, leases=leases, now=now, rng=rng)
    if applied is not None:
        return applied
    if session.get(NotificationRow, notification_id) is None:
        raise NotFound(f"notification {notification_id} not found")
    return Applied.ALREADY  # or being applied by a drain right now: it will be


def _apply_loaded(
    session: Session, notification_id: int, *, leases: Leases, now: datetime, rng: random.Random
) -> Applied | None:
    """Apply one inbox row in `session`'s transaction: one statement loads and locks it with its
    attempt and contact (`_LOAD`), one writes back what changed (`_write`). None when there is
    no unprocessed row to apply (applied since, held by another drain, or gone)."""
    connection = session.connection()
    loaded = connection.execute(_LOAD, {"id": notification_id}).first()
    if loaded is None:
        return None
    a_at = len(_NOTIFICATION.keys)
    c_at = a_at + len(_ATTEMPT.keys)
    d_at = c_at + len(_CONTACT.keys)
    values = (loaded[:a_at], loaded[a_at:c_at], loaded[c_at:d_at])
    row = _NOTIFICATION.build(values[0])
    attempt = _ATTEMPT.build(values[1])
    contact = _CONTACT.build(values[2])
    log.bind(attempt_id=attempt.id, campaign_id=attempt.campaign_id)
    result, why = _apply(
        session, row, attempt, contact, loaded[d_at], leases=leases, now=now, rng=rng
    )
    row.processed_at = now
    row.result = f"{result.value}: {why}"[:200] if why else result.value
    n_names, n_params = _NOTIFICATION.changes(row, values[0])
    a_names, a_params = _ATTEMPT.changes(attempt, values[1])
    c_names, c_params = _CONTACT.changes(contact, values[2])
    connection.execute(_write(n_names, a_names, c_names), n_params | a_params | c_params)
    return result


_SPEC_DIGEST = func.md5(cast(CampaignRow.spec, Text))
"""What `spec_for` is keyed by, read with the attempt (no query of its own)."""


def _apply(
    session: Session,
    row: NotificationRow,
    attempt: AttemptRow,
    contact: ContactRow,
    digest: str,
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
    spec = spec_for(session, attempt.campaign_id, digest)
    outcome = classify(n, amd_enabled=spec.gateway.amd_enabled)
    if outcome is None:  # pragma: no cover - finals always classify
        return Applied.APPLIED, None
    if n.status.value == "completed" and attempt.answered_at is None:
        attempt.answered_at = now  # `completed` overtook `answered`: it was answered all the same
    close_attempt(
        session,
        attempt,
        event=event,
        outcome=outcome,
        spec=spec,
        now=now,
        rng=rng,
        leases=leases,
        contact=contact,
    )
    return Applied.APPLIED, None


_R = typing.TypeVar("_R", bound=Base)


class _Rows(typing.Generic[_R]):
    """Rows of one table as the consumer loads them: every mapped column, as session-less row
    objects that the shared code (`_apply`, `close_attempt`) changes like any other, written
    back by Core (`_write`) in the columns that changed. No identity map, no unit of work, no
    flush: they were half of a worker's CPU per final."""

    def __init__(self, mapped: type[_R], prefix: str) -> None:
        props = inspect(mapped).column_attrs
        self.manager = inspect(mapped).class_manager
        self.prefix = prefix
        self.keys = [prop.key for prop in props]
        self.columns = [prop.columns[0] for prop in props]
        self.names = {prop.key: prop.columns[0].name for prop in props}
        self.table = typing.cast(Table, inspect(mapped).local_table)
        self.id_at = self.keys.index("id")

    def build(self, values: Sequence[Any]) -> _R:
        """A session-less row object holding `values` (in `columns` order); filled in directly,
        as the ORM's own loading does, not attribute by attribute through the constructor."""
        row = typing.cast(_R, self.manager.new_instance())
        row.__dict__.update(zip(self.keys, values, strict=True))
        return row

    def changes(self, row: _R, values: Sequence[Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
        """The columns of `row` that no longer hold what was loaded (`values`): their names, and
        `_write`'s parameters for them (none when nothing changed)."""
        changed = {
            self.names[key]: value
            for key, loaded in zip(self.keys, values, strict=True)
            if (value := getattr(row, key)) != loaded
        }
        if not changed:
            return (), {}
        params = {f"{self.prefix}{name}": value for name, value in changed.items()}
        params[f"{self.prefix}pk"] = values[self.id_at]
        return tuple(changed), params

    def update(self, names: Iterable[str]) -> Update:
        """UPDATE of the row `pk` in columns `names`, from `changes`' parameters."""
        table = self.table
        return (
            update(table)
            .where(table.c.id == bindparam(f"{self.prefix}pk"))
            .values({name: bindparam(f"{self.prefix}{name}") for name in names})
        )


_NOTIFICATION = _Rows(NotificationRow, "n_")
_ATTEMPT = _Rows(AttemptRow, "a_")
_CONTACT = _Rows(ContactRow, "c_")


@functools.lru_cache(maxsize=256)
def _write(
    notification: tuple[str, ...], attempt: tuple[str, ...], contact: tuple[str, ...]
) -> Update:
    """One statement writing the changed columns (named) of the inbox row, its attempt and its
    contact: the latter two as data-modifying CTEs of the first, so one round trip for all three
    (their rows are locked already). Built once per shape of change (a few dozen occur)."""
    ctes = [
        rows.update(names).cte(rows.prefix.rstrip("_"))
        for rows, names in ((_ATTEMPT, attempt), (_CONTACT, contact))
        if names
    ]
    return _NOTIFICATION.update(notification).add_cte(*ctes)


_unlocked = (
    select(*_NOTIFICATION.columns)
    .where(NotificationRow.id == bindparam("id"), NotificationRow.processed_at.is_(None))
    .with_for_update(skip_locked=True)
    .subquery()
)
_LOAD = (
    select(*_unlocked.c, *_ATTEMPT.columns, *_CONTACT.columns, _SPEC_DIGEST)
    .select_from(_unlocked)
    .join(AttemptRow, AttemptRow.id == _unlocked.c.attempt_id)
    .join(ContactRow, ContactRow.id == AttemptRow.contact_id)
    .join(CampaignRow, CampaignRow.id == AttemptRow.campaign_id)
    .with_for_update(of=[AttemptRow, ContactRow])
)
"""The consumer's one statement per row: the inbox row (skipped when another drain holds it),
its attempt and contact locked in that order, the order every ending takes (PostgreSQL locks
the tables of `FOR UPDATE OF` in the order listed; it waits for them, as `session.get` did),
and the digest of the campaign's spec."""


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
            result = _apply_loaded(session, notification_id, leases=leases, now=now(), rng=rng)
        if result is not None:
            results.append(result)
    return results
