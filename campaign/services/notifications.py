"""Notifications: apply each stored status POST to its attempt (the consumer's side).

The receiver stores every body durably, deduplicated (`services.intake`, one statement), so it
can answer SAVG as soon as the body is safe in PostgreSQL; applying runs in a worker and changes
state only through the attempt machine, so duplicates and regressions (an `answered` after
`completed`) change nothing.
"""

from __future__ import annotations

import functools
import random
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    Table,
    Text,
    Update,
    bindparam,
    cast,
    exists,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased, sessionmaker

from campaign import log
from campaign.db.engine import DriverStatement, run_in, run_one, transaction
from campaign.db.tables import AttemptRow, Base, CampaignRow, ContactRow, NotificationRow
from campaign.domain.outcomes import STATUS_EVENT, Notification, classify, parse_notification
from campaign.domain.states import (
    ATTEMPT_FINAL,
    AttemptEvent,
    AttemptState,
    attempt_transition,
)
from campaign.errors import NotificationInvalid
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


def _apply_loaded(
    session: Session, loaded: Sequence[Any], *, leases: Leases, now: datetime, rng: random.Random
) -> Applied:
    """Apply one inbox row, loaded and locked with its attempt and contact by a `_loading`
    statement in `session`'s transaction; one statement (`_write`) writes back what changed."""
    values = (loaded[:_A_AT], loaded[_A_AT:_C_AT], loaded[_C_AT:_D_AT])
    row = _NOTIFICATION.build(values[0])
    attempt = _ATTEMPT.build(values[1])
    contact = _CONTACT.build(values[2])
    log.bind(attempt_id=attempt.id, campaign_id=attempt.campaign_id)
    result, why = _apply(
        session, row, attempt, contact, loaded[_D_AT], leases=leases, now=now, rng=rng
    )
    row.processed_at = now
    row.result = f"{result.value}: {why}"[:200] if why else result.value
    n_names, n_params = _NOTIFICATION.changes(row, values[0])
    a_names, a_params = _ATTEMPT.changes(attempt, values[1])
    c_names, c_params = _CONTACT.changes(contact, values[2])
    run_in(session, _write(n_names, a_names, c_names), n_params | a_params | c_params)
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
) -> DriverStatement:
    """One statement writing the changed columns (named) of the inbox row, its attempt and its
    contact: the latter two as data-modifying CTEs of the first, so one round trip for all three
    (their rows are locked already). Built and compiled once per shape of change (a few dozen
    occur)."""
    ctes = [
        rows.update(names).cte(rows.prefix.rstrip("_"))
        for rows, names in ((_ATTEMPT, attempt), (_CONTACT, contact))
        if names
    ]
    return DriverStatement(_NOTIFICATION.update(notification).add_cte(*ctes))


_A_AT = len(_NOTIFICATION.keys)
_C_AT = _A_AT + len(_ATTEMPT.keys)
_D_AT = _C_AT + len(_CONTACT.keys)
"""Where the attempt's, the contact's columns and the spec digest start in a loaded row."""


def _loading(taken: Subquery, *extra: ColumnElement[Any]) -> Select[Any]:
    """The consumer's one statement per row: the inbox row `taken` selects (locked, skipped
    when another drain holds it), its attempt and contact locked in that order, the order every
    ending takes (PostgreSQL locks the tables of `FOR UPDATE OF` in the order listed; it waits
    for them, as `session.get` did), the digest of the campaign's spec, then `extra`."""
    return (
        select(*taken.c, *_ATTEMPT.columns, *_CONTACT.columns, _SPEC_DIGEST, *extra)
        .select_from(taken)
        .join(AttemptRow, AttemptRow.id == taken.c.attempt_id)
        .join(ContactRow, ContactRow.id == AttemptRow.contact_id)
        .join(CampaignRow, CampaignRow.id == AttemptRow.campaign_id)
        .with_for_update(of=[AttemptRow, ContactRow])
    )


_LOAD = DriverStatement(
    _loading(
        select(*_NOTIFICATION.columns)
        .where(NotificationRow.id == bindparam("id"), NotificationRow.processed_at.is_(None))
        .with_for_update(skip_locked=True)
        .subquery()
    )
)
"""The inbox row `id` with its attempt and contact, unless applied or held by a drain."""


DRAIN_SHARDS = 8
"""Consumers that drain the inbox at once, each its own share of the attempts (`attempt_id %
DRAIN_SHARDS`): their rows are disjoint, so they never queue on one another's row locks, and the
notifications of one call stay with one consumer. One consumer for all rows applied finals one
at a time (~8 ms each): at 100 finals/s its backlog, and so the decisions' latency, only grew."""


def shard_of(attempt_id: int) -> int:
    """The consumer share an attempt's notifications belong to."""
    return attempt_id % DRAIN_SHARDS


def _waiting(inbox: Any, *, sharded: bool, before: bool) -> list[ColumnElement[bool]]:
    """Conditions on `inbox` (the table's class or an alias of it) of an unprocessed row that a
    drain takes: of the `shard` parameter's share when `sharded`, received before the `before`
    parameter when `before`."""
    where = [inbox.processed_at.is_(None)]
    if before:
        where.append(inbox.received_at < bindparam("before"))
    if sharded:
        where.append(inbox.attempt_id % DRAIN_SHARDS == bindparam("shard"))
    return where


@functools.cache
def _load_next(*, sharded: bool, before: bool) -> DriverStatement:
    """`_loading` of the oldest waiting row (`_waiting`) that no other drain holds, and whether a
    later one waits too: a drain that applied the last row sends no statement to find nothing
    left. Built once for each of the four kinds of drain."""
    taken = (
        select(*_NOTIFICATION.columns)
        .where(*_waiting(NotificationRow, sharded=sharded, before=before))
        .order_by(NotificationRow.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .subquery()
    )
    later = aliased(NotificationRow)
    more = exists().where(later.id > taken.c.id, *_waiting(later, sharded=sharded, before=before))
    return DriverStatement(_loading(taken, more))


@functools.cache
def _listing(*, sharded: bool, before: bool) -> Select[tuple[int]]:
    """The ids of the oldest `limit` waiting rows (`_waiting`). Built once for each kind of
    drain."""
    return (
        select(NotificationRow.id)
        .where(*_waiting(NotificationRow, sharded=sharded, before=before))
        .order_by(NotificationRow.id)
        .limit(bindparam("limit"))
    )


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

    The first row is taken by the statement that loads and locks it (`_load_next`), which also
    says whether a later one waits: a drain woken for one row, as nearly every one is while
    finals arrive steadily, sends two statements (load, write), with no listing before and no
    statement after to find nothing. Only when more wait are the rest listed (`_listing`) and
    each loaded by id (`_LOAD`): each `_load_next` reads every waiting row of the inbox to find
    the oldest, so taking a backlog of B rows one such statement at a time would cost PostgreSQL
    B² row visits, where the listing costs it B once per `limit`.

    One transaction per row, not per batch: applying locks the attempt then its contact, and a
    batch holding many of them would deadlock with a verb that locks a campaign's contacts in
    another order (`cancel`). `SKIP LOCKED`: several consumers (and the sweeper) drain at once
    without waiting on each other or applying a row twice. `received_before` limits the sweeper
    to rows a consumer should have taken by now.
    """
    kind = {"sharded": shard is not None, "before": received_before is not None}
    params: dict[str, Any] = {"shard": shard, "before": received_before, "limit": limit - 1}
    at = now()
    with transaction(sessions) as session:
        first = run_in(session, _load_next(**kind), params)
        if not first:
            return []
        loaded = first[0]
        results = [_apply_loaded(session, loaded, leases=leases, now=at, rng=rng)]
    if not loaded[-1] or limit <= 1:
        return results
    with sessions() as session:
        ids = list(session.scalars(_listing(**kind), params))
    for notification_id in ids:
        at = now()
        with transaction(sessions) as session:
            for loaded in run_in(session, _LOAD, {"id": notification_id}):
                results.append(_apply_loaded(session, loaded, leases=leases, now=at, rng=rng))
    return results


_WAITING = DriverStatement(
    select(NotificationRow.id)
    .where(*_waiting(NotificationRow, sharded=True, before=False))
    .limit(1)
)
"""Whether a row of the `shard` parameter's share waits (held by a drain or not)."""


def _any_waiting(sessions: sessionmaker[Session], shard: int) -> bool:
    """One round trip, in autocommit: what a drain asks before it opens a transaction to read a
    share it expects to find empty (the read after it cleared the wake key), which costs a
    transaction's frame and a wide statement for nothing."""
    return run_one(sessions, _WAITING, {"shard": shard}) is not None


MAX_DRAIN_S = 2.0
"""How long one drain keeps its share's wake key while rows keep coming."""


class ShareWake(Protocol):
    """The wake key of a share (`Runtime`): while it is set, a receiver that stores a row of
    that share wakes no drain, since one is reading."""

    def clear_wake(self, shard: int) -> None: ...

    def take_wake(self, shard: int) -> bool: ...


def drain_share(
    sessions: sessionmaker[Session],
    wake: ShareWake,
    shard: int | None,
    *,
    leases: Leases,
    now: Callable[[], datetime],
    rng: random.Random,
    batch: int,
    clock: Callable[[], float] = time.monotonic,
) -> list[Applied]:
    """What a drain woken for `shard` does (`workers.drainers`): apply every waiting row of the
    share, `batch` rows per `drain_inbox`, while holding its wake key (no shard, a message from
    a release before shards were: every row, once).

    The key stays set while this drain reads, so rows stored meanwhile are taken here rather than
    each waking a drain of its own (under load one drain applies a stream of finals, for one
    wake-up in the API). After each read the key is cleared and the share read
    once more (when a row waits: `_any_waiting`): a receiver that found the key set had committed
    its row before that check, so before the clear, and this read takes it; a receiver that
    finds the key clear wakes another drain, so a share under load gets a second consumer
    instead of a queue behind one. When that read found rows the drain takes the key back and
    goes on, unless a receiver took it first (its drain goes on) or `MAX_DRAIN_S` has passed (a
    worker's warm shutdown never waits on a stream). None is left behind (and the sweeper
    applies any row a lost wake-up left).
    """

    def read() -> list[Applied]:
        applied: list[Applied] = []
        while True:
            results = drain_inbox(
                sessions, leases=leases, now=now, rng=rng, limit=batch, shard=shard
            )
            applied += results
            if len(results) < batch:
                return applied

    applied = read()
    if shard is None:
        return applied
    until = clock() + MAX_DRAIN_S
    while True:
        wake.clear_wake(shard)
        last = read() if _any_waiting(sessions, shard) else []
        applied += last
        if not last or clock() >= until or not wake.take_wake(shard):
            return applied
        applied += read()
