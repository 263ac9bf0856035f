"""What the forecast reads from PostgreSQL: the open contacts as groups, the campaign's own calls.

Contacts are read with one aggregate (`GROUP BY` zones, state, this run's history per contact, due
time bucket), never row by row, so a million-contact campaign costs one scan. The latest calls
give the outcome mix per attempt number, how long each class holds a live-call slot and the
engine's lag, the newest weighing most.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, Row, case, cast, extract, func, literal, select, text
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, ContactRow
from campaign.domain.forecast import ContactGroup
from campaign.domain.forecast_mix import ASSUMED_LAG_S, Observations
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.states import AttemptState, ContactState
from campaign.services.dispatching import due_contacts

SAMPLE_ATTEMPTS = 20_000
"""The latest attempts read for the outcome mix and call durations."""
HALF_LIFE_ATTEMPTS = 5_000
"""An attempt this many attempts older than the latest weighs half as much."""
LAG_SAMPLE = 500
"""The latest attempts whose time from claimed to sent gives the engine's lag: its lower quartile
(the rest is mostly a wait for the pace, which the model plays itself), plus half a dispatcher
tick (`ASSUMED_LAG_S`) for the wait from due to claimed."""
UNSETTLED = 0.03
"""The share of calls without an outcome yet that the mix may be read over (see below)."""
PACE_WINDOW = timedelta(seconds=60)
PACE_MIN_CALLS = 30
"""Calls the engine must have placed in `PACE_WINDOW` before its achieved pace is read."""
_NOT_PLACED = (AttemptState.QUEUED.value, AttemptState.DIALING.value, AttemptState.RELEASED.value)
_OPEN = (ContactState.PENDING.value, ContactState.IN_FLIGHT.value)
_REARMED = (*_OPEN, ContactState.DONE.value, ContactState.EXHAUSTED.value)


def _settled_before(rows: Sequence[Row[Any]], now: datetime) -> datetime:
    """The latest dial time before which nearly every call has ended (all but `UNSETTLED`).

    Calls placed after it are left out: the short ones among them (busy) have ended and the long
    ones (a person talking) not yet, so counting them would make the mix lean toward short
    outcomes and short calls, most of all early in a campaign. A few calls whose final never
    came (or comes late) are allowed for, so one straggler does not hold the estimate back.
    """
    placed = sorted(
        (row.sending_at, row.outcome is None) for row in rows if row.sending_at is not None
    )
    latest: datetime = now
    open_calls = 0
    for seen, (at, still_open) in enumerate(placed, 1):
        open_calls += still_open
        if open_calls <= max(1.0, UNSETTLED * seen):
            latest = at
    return now if not open_calls else latest


def observations(session: Session, campaign_id: int, now: datetime) -> Observations:
    """Outcome weights per attempt number and seconds each class held its live-call slot, from
    the latest `SAMPLE_ATTEMPTS` attempts whose calls have settled (`_settled_before`), halving
    weight every `HALF_LIFE_ATTEMPTS`; and the engine's lag from the latest `LAG_SAMPLE`."""
    rows = session.execute(
        select(
            AttemptRow.number,
            AttemptRow.outcome,
            AttemptRow.sending_at,
            AttemptRow.ended_at,
            AttemptRow.queued_at,
        )
        .where(AttemptRow.campaign_id == campaign_id, AttemptRow.state.not_in(_NOT_PLACED))
        .order_by(AttemptRow.id.desc())
        .limit(SAMPLE_ATTEMPTS)
    ).all()
    settled = _settled_before(rows, now)
    mix: dict[int, dict[OutcomeClass, float]] = {}
    held: dict[OutcomeClass, list[float]] = {}
    hops = [(r.sending_at - r.queued_at).total_seconds() for r in rows[:LAG_SAMPLE] if r.sending_at]
    calls = 0
    for row in rows:
        if row.outcome is None or (row.sending_at or row.queued_at) > settled:
            continue
        weight = 0.5 ** (calls / HALF_LIFE_ATTEMPTS)
        calls += 1
        outcome = OutcomeClass(row.outcome)
        counts = mix.setdefault(row.number, {})
        counts[outcome] = counts.get(outcome, 0.0) + weight
        if row.sending_at is not None and row.ended_at is not None:
            total = held.setdefault(outcome, [0.0, 0.0])
            total[0] += weight * max(0.0, (row.ended_at - row.sending_at).total_seconds())
            total[1] += weight
    occupancy = {c: (s / w, w) for c, (s, w) in held.items() if w > 0}
    lag = ASSUMED_LAG_S + statistics.quantiles(hops, n=4)[0] if len(hops) > 1 else None
    return Observations(mix=mix, occupancy_s=occupancy, calls=calls, lag_s=lag)


def _bucketed(seconds: ColumnElement[Any]) -> ColumnElement[Any]:
    """Seconds (as a float: numeric is slow over a million rows) rounded down: to the second
    within a minute, the minute within an hour, then the hour; near times stay sharp and far
    ones merge into few groups."""
    value = cast(seconds, Float)
    size = func.abs(value)
    return case(
        (size < 60, func.floor(value)),
        (size < 3600, func.floor(value / 60) * 60),
        else_=func.floor(value / 3600) * 3600,
    )


@contextmanager
def _few_groups(session: Session) -> Iterator[None]:
    """Plan a grouping of up to millions of rows into a few hundred groups as what it is. The
    planner cannot tell the groups are few, so it sorts every row (spilling to disk) and JIT-
    compiles the expressions, which costs more than the query; hashing needs only the groups."""
    session.execute(text("SET LOCAL jit = off"))
    session.execute(text("SET LOCAL enable_sort = off"))
    try:
        yield
    finally:
        session.execute(text("SET LOCAL enable_sort = on"))
        session.execute(text("SET LOCAL jit = on"))


def current_groups(
    session: Session,
    campaign_id: int,
    run_id: int | None,
    now: datetime,
    redialed: Sequence[OutcomeClass],
    caps: bool,
) -> list[ContactGroup]:
    """The open contacts as groups, each with its history in run `run_id`: one aggregate over
    this run's attempts per contact, joined to the contacts and grouped again."""
    of_run = AttemptRow.run_id == run_id if run_id is not None else AttemptRow.run_id.is_(None)
    per_contact = (
        select(
            AttemptRow.contact_id,
            func.count().label("dials"),
            func.count()
            .filter(AttemptRow.counted, AttemptRow.outcome.is_not(None))
            .label("counted"),
            *(
                func.count().filter(AttemptRow.outcome == c.value).label(f"e{i}")
                for i, c in enumerate(redialed)
            ),
            func.max(func.coalesce(AttemptRow.sending_at, AttemptRow.claimed_at)).label("last"),
        )
        .where(
            AttemptRow.campaign_id == campaign_id,
            of_run,
            AttemptRow.state != AttemptState.RELEASED.value,
        )
        .group_by(AttemptRow.contact_id)
        .subquery()
    )
    at = literal(now)
    due = case(
        (ContactRow.next_due_at <= at, 0.0),
        else_=_bucketed(extract("epoch", ContactRow.next_due_at - at)),
    )
    last = _bucketed(extract("epoch", per_contact.c.last - at)) if caps else literal(None)
    keys = [
        ContactRow.zones,
        ContactRow.state,
        func.coalesce(per_contact.c.dials, 0),
        func.coalesce(per_contact.c.counted, 0),
        *(func.coalesce(per_contact.c[f"e{i}"], 0) for i in range(len(redialed))),
        due,
        last,
    ]
    query = (
        select(*keys, func.count())
        .select_from(ContactRow)
        .outerjoin(per_contact, per_contact.c.contact_id == ContactRow.id)
        .where(ContactRow.campaign_id == campaign_id, ContactRow.state.in_(_OPEN))
        .group_by(*keys)
    )
    with _few_groups(session):
        rows = session.execute(query).all()
    groups = []
    for zones, state, dials, counted, *endings, due_s, last_s, count in rows:
        (*endings,) = endings
        groups.append(
            ContactGroup(
                zones=tuple(zones),
                count=count,
                due_in_s=float(due_s or 0),
                in_flight=state == ContactState.IN_FLIGHT.value,
                dials=dials,
                counted=counted,
                endings={c: n for c, n in zip(redialed, endings, strict=True) if n},
                last_dial_s=None if last_s is None else float(last_s),
            )
        )
    return groups


def next_run_groups(session: Session, campaign_id: int, due_in_s: float) -> list[ContactGroup]:
    """Every contact a new run re-arms (all but suppressed and cancelled), due at its start."""
    rows = session.execute(
        select(ContactRow.zones, func.count())
        .where(ContactRow.campaign_id == campaign_id, ContactRow.state.in_(_REARMED))
        .group_by(ContactRow.zones)
    )
    return [ContactGroup(tuple(zones), count, due_in_s=due_in_s) for zones, count in rows]


def reached_so_far(session: Session, campaign_id: int, run_id: int | None) -> int:
    if run_id is None:
        return 0
    count = session.scalar(
        select(func.count()).where(
            AttemptRow.campaign_id == campaign_id,
            AttemptRow.run_id == run_id,
            AttemptRow.outcome == OutcomeClass.HUMAN.value,
        )
    )
    return int(count or 0)


def achieved_pace(session: Session, campaign_id: int, now: datetime) -> float | None:
    """Calls per second the engine really placed over the last `PACE_WINDOW`, if contacts were
    left waiting for it (some due now), else None: only then is the rate the engine's ceiling
    and not just what there was to dial. A host short of CPU dials below the configured pace."""
    # The claim's own walk of the due index (a probe per priority level), not a filter on it.
    waiting = session.scalar(due_contacts(campaign_id, now - PACE_WINDOW / 4, 1, lock=False))
    if waiting is None:
        return None
    first, last, sent = session.execute(
        select(
            func.min(AttemptRow.sending_at), func.max(AttemptRow.sending_at), func.count()
        ).where(AttemptRow.campaign_id == campaign_id, AttemptRow.sending_at > now - PACE_WINDOW)
    ).one()
    if sent < PACE_MIN_CALLS or last <= first:
        return None
    return float((sent - 1) / (last - first).total_seconds())
