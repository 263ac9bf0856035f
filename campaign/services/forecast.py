"""Forecasting a stored campaign: read what the model needs from PostgreSQL, then run it.

Contacts are read as groups (`GROUP BY` zones, state, this run's history, due time bucket), never
row by row, so a million-contact campaign costs one aggregate scan. What calls end in and how
long they hold a live-call slot come from the campaign's own latest attempts, the newest weighing
most; until there are enough of them the stated assumptions carry the forecast (`basis`).

Which run is forecast: the current one of a running or paused campaign (paused: as if resumed
now); a draft as if started now; a recurring campaign between runs, its next run from when it is
due; a completed or cancelled one with no run to come reports when it finished.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Float, case, cast, extract, func, literal, select, text
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, RunRow
from campaign.domain.forecast import ContactGroup, Forecast, Plan, forecast
from campaign.domain.forecast_mix import ASSUMED_LAG_S, Assumptions, Beliefs, Observations
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.pacing import PacingLimits
from campaign.domain.recurrence import next_run
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import AttemptState, CampaignState, ContactState
from campaign.errors import InvalidInput, SpecInvalid
from campaign.limits import RateLimit
from campaign.services.campaigns import get_campaign_row
from campaign.services.redial import ring_margin
from campaign.services.specs import load_spec

DEFAULT_SEED = 1
SAMPLE_ATTEMPTS = 20_000
"""The latest attempts read for the outcome mix and call durations."""
HALF_LIFE_ATTEMPTS = 5_000
"""An attempt this many attempts older than the latest weighs half as much."""
LAG_SAMPLE = 500
"""The latest attempts whose time from claimed to sent gives the engine's lag: its lower quartile
(the rest is mostly a wait for the pace, which the model plays itself), plus half a dispatcher
tick (`ASSUMED_LAG_S`) for the wait from due to claimed."""
_OPEN = (ContactState.PENDING.value, ContactState.IN_FLIGHT.value)
_REARMED = (*_OPEN, ContactState.DONE.value, ContactState.EXHAUSTED.value)
_FINISHED = (CampaignState.COMPLETED.value, CampaignState.CANCELLED.value)


@dataclass(frozen=True)
class CampaignForecast:
    """A forecast and the run it is about (`starts`: when that run begins, if it has not)."""

    forecast: Forecast
    run: int | None
    starts: datetime | None = None

    def eta_seconds(self) -> float | None:
        """Seconds from the forecast's `as_of` to its median finish (None: it never finishes)."""
        if self.forecast.finish is None:
            return None
        left = (self.forecast.finish[1] - self.forecast.as_of).total_seconds()
        return round(max(0.0, left), 1)

    def to_dict(self) -> dict[str, Any]:
        """The contract's forecast JSON, plus `run` and `run_starts`."""
        out = self.forecast.to_dict()
        out["run"] = self.run
        out["run_starts"] = (
            self.starts.astimezone(self.forecast.zone).isoformat() if self.starts else None
        )
        return out


def campaign_zone(spec: CampaignSpec) -> ZoneInfo:
    """The zone a campaign's times are shown in: its window's own zone, else its schedule's,
    else the window's fallback zone."""
    if spec.window.timezone_mode != "contact":
        return ZoneInfo(spec.window.timezone_mode)
    if spec.schedule is not None:
        return ZoneInfo(spec.schedule.timezone)
    return ZoneInfo(spec.window.fallback_timezone)


def plan_for(
    spec: CampaignSpec, *, cps: float | None = None, max_live_calls: int | None = None
) -> Plan:
    """The spec's rules as the engine enforces them, with `--cps`/`--max-live-calls` overrides.
    The rate is the limiter's own (`RateLimit.period_ms`: its slack makes it a little slower)."""
    pacing = spec.pacing
    try:
        pacing = PacingLimits(
            cps=pacing.cps if cps is None else cps,
            max_live_calls=pacing.max_live_calls if max_live_calls is None else max_live_calls,
            max_call_duration=pacing.max_call_duration,
            burst=pacing.burst,
        )
    except SpecInvalid as exc:
        flags = {"pacing.cps": "--cps", "pacing.max_live_calls": "--max-live-calls"}
        first = exc.errors[0]
        for path, flag in flags.items():
            first = first.replace(path, flag)
        raise InvalidInput(first) from exc
    return Plan(
        window=spec.window,
        policy=spec.retry,
        cps=1000.0 / RateLimit("forecast", pacing.cps, pacing.burst).period_ms,
        max_live_calls=pacing.max_live_calls,
        margin=ring_margin(spec),
        zone=campaign_zone(spec),
    )


def assumptions_for(spec: CampaignSpec) -> Assumptions:
    """What is assumed before enough calls were seen, bounded by the spec's own timers."""
    return Assumptions.for_calls(ring_margin(spec), spec.pacing.max_call_duration)


def observations(session: Session, campaign_id: int) -> Observations:
    """Outcome weights per attempt number and seconds each class held its live-call slot, from
    the latest `SAMPLE_ATTEMPTS` attempts, halving weight every `HALF_LIFE_ATTEMPTS`."""
    rows = session.execute(
        select(
            AttemptRow.number,
            AttemptRow.outcome,
            AttemptRow.sending_at,
            AttemptRow.ended_at,
            AttemptRow.queued_at,
        )
        .where(AttemptRow.campaign_id == campaign_id, AttemptRow.outcome.is_not(None))
        .order_by(AttemptRow.id.desc())
        .limit(SAMPLE_ATTEMPTS)
    )
    mix: dict[int, dict[OutcomeClass, float]] = {}
    held: dict[OutcomeClass, list[float]] = {}
    hops: list[float] = []
    calls = 0
    for rank, (number, outcome, sent, ended, queued) in enumerate(rows):
        calls += 1
        if sent is not None and len(hops) < LAG_SAMPLE:
            hops.append((sent - queued).total_seconds())
        weight = 0.5 ** (rank / HALF_LIFE_ATTEMPTS)
        outcome_class = OutcomeClass(outcome)
        counts = mix.setdefault(number, {})
        counts[outcome_class] = counts.get(outcome_class, 0.0) + weight
        if sent is not None and ended is not None and ended >= sent:
            total = held.setdefault(outcome_class, [0.0, 0.0])
            total[0] += weight * (ended - sent).total_seconds()
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


def _reached(session: Session, campaign_id: int, run_id: int | None) -> int:
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


def _finished(
    row: CampaignRow, run: RunRow | None, plan: Plan, beliefs: Beliefs, reached: int, now: datetime
) -> Forecast:
    at = (run.finished_at if run else None) or row.updated_at or now
    return Forecast(
        as_of=now,
        zone=plan.zone,
        finish=(at, at, at),
        calls_remaining=(0, 0),
        contacts_reached=(reached, reached),
        outcomes={},
        by_day=[],
        limited_by=None,
        never_finishes=[],
        basis=beliefs.basis,
        assumptions=[],
    )


def forecast_campaign(
    session: Session,
    campaign_id: int,
    *,
    now: datetime,
    seed: int = DEFAULT_SEED,
    cps: float | None = None,
    max_live_calls: int | None = None,
) -> CampaignForecast:
    """Forecast a stored campaign (see the module docstring for which run); reads only."""
    row = get_campaign_row(session, campaign_id)
    spec = load_spec(row.spec)
    plan = plan_for(spec, cps=cps, max_live_calls=max_live_calls)
    beliefs = Beliefs(assumptions_for(spec), observations(session, campaign_id))
    run = session.get(RunRow, row.current_run_id) if row.current_run_id else None
    state = row.state
    upcoming = row.next_run_at
    if spec.schedule is not None and state == CampaignState.DRAFT.value:
        upcoming = next_run(spec.schedule.cron, spec.schedule.timezone, now)
    between_runs = (
        spec.schedule is not None
        and upcoming is not None
        and (
            state in (CampaignState.DRAFT.value, CampaignState.SCHEDULED.value)
            or (state == CampaignState.COMPLETED.value)
        )
    )
    rng = random.Random(seed)
    if between_runs and upcoming is not None:
        starts = max(now, upcoming)
        groups = next_run_groups(session, campaign_id, (starts - now).total_seconds())
        last = session.scalar(
            select(func.max(RunRow.number)).where(RunRow.campaign_id == campaign_id)
        )
        result = forecast(plan, groups, beliefs, now=now, rng=rng)
        return CampaignForecast(result, (last or 0) + 1, starts)
    reached = _reached(session, campaign_id, run.id if run else None)
    if state in _FINISHED:
        return CampaignForecast(
            _finished(row, run, plan, beliefs, reached, now), run.number if run else None
        )
    policy = spec.retry
    caps = bool(policy.per_day or policy.per_week or policy.min_gap)
    groups = current_groups(
        session, campaign_id, run.id if run else None, now, sorted(policy.outcomes), caps
    )
    notes = {
        CampaignState.DRAFT.value: "as if started now",
        CampaignState.PAUSED.value: "as if resumed now",
    }
    result = forecast(
        plan,
        groups,
        beliefs,
        now=now,
        rng=rng,
        reached_so_far=reached,
        notes=[notes[state]] if state in notes else [],
    )
    return CampaignForecast(result, run.number if run else None)
