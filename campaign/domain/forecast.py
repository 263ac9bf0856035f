"""The campaign forecast: when the contacts left will be done, how many calls that takes, how many
people it reaches, and what holds it back, as percentiles of seeded Monte-Carlo runs.

Each run (`forecast_run.Run`) plays the engine's own rules (calling windows, pacing, the retry
policy) on groups of contacts in a world drawn from `forecast_mix.Beliefs`; the spread of the runs
is the forecast's uncertainty: the luck of each call, and how little the outcome mix and call
durations are known. Same inputs and seed, same forecast.

`finish` is when the last contact closes; `calls_remaining` counts dial-outs still to place;
`contacts_reached` counts calls a person answered (`human`), those already made included;
`outcomes` are the expected shares of the remaining calls by class; `limited_by` is what the
campaign spends the most time waiting on.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from campaign.domain.calling_window import CallingWindow
from campaign.domain.forecast_calendar import Days, always_open
from campaign.domain.forecast_mix import Beliefs
from campaign.domain.forecast_run import CAPS, RETRY, WINDOWS, Run, RunResult
from campaign.domain.forecast_setup import History, Setup
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.retry_policy import RetryPolicy

DEFAULT_RUNS = 16
STEPS = 80
"""About how many steps the busiest stretch of a run takes: finer costs time, coarser accuracy."""
MIN_STEP_S = 0.05
MAX_STEP_S = 86_400.0  # a pace so slow the horizon passes first still moves day by day
MIN_RATE = 1e-9


@dataclass(frozen=True)
class Plan:
    """How the engine will work the contacts. `cps` is the rate the limiter really allows (its
    slack included), `margin` the ring time a window must leave open (`ring_margin`), `zone` the
    campaign's own zone (dates of `by_day`, times shown)."""

    window: CallingWindow
    policy: RetryPolicy
    cps: float
    max_live_calls: int
    margin: timedelta
    zone: ZoneInfo


@dataclass(frozen=True)
class ContactGroup:
    """Open contacts the model cannot tell apart: same zones, due time, and history this run.

    `dials` counts this run's calls (one still live when `in_flight`), `counted` those that count
    against `max_attempts`, `endings` those that ended per class; `last_dial_s` (seconds from
    now, negative) is the latest call, read by frequency caps; `due_in_s` when it is due."""

    zones: tuple[str, ...]
    count: int
    due_in_s: float = 0.0
    in_flight: bool = False
    dials: int = 0
    counted: int = 0
    endings: Mapping[OutcomeClass, int] = field(default_factory=dict)
    last_dial_s: float | None = None


@dataclass(frozen=True)
class Forecast:
    """The forecast's figures; `to_dict` is the operator contract's JSON."""

    as_of: datetime
    zone: ZoneInfo
    finish: tuple[datetime, datetime, datetime] | None
    calls_remaining: tuple[int, int]
    contacts_reached: tuple[int, int]
    outcomes: dict[str, float]
    by_day: list[tuple[date, int, int]]
    limited_by: str | None
    never_finishes: list[tuple[int, str]]
    basis: str
    assumptions: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Times in the campaign's zone, and `finish_utc` beside `finish`."""

        def at(when: datetime | None, zone: ZoneInfo) -> str | None:
            return None if when is None else when.astimezone(zone).isoformat()

        def percentiles(zone: ZoneInfo) -> dict[str, str | None]:
            times = self.finish or (None, None, None)
            return {k: at(t, zone) for k, t in zip(("p10", "p50", "p90"), times, strict=True)}

        utc = ZoneInfo("UTC")
        return {
            "as_of": at(self.as_of, self.zone),
            "timezone": self.zone.key,
            "finish": percentiles(self.zone),
            "finish_utc": percentiles(utc),
            "calls_remaining": dict(zip(("p50", "p90"), self.calls_remaining, strict=True)),
            "contacts_reached": dict(zip(("p50", "p90"), self.contacts_reached, strict=True)),
            "outcomes": self.outcomes,
            "by_day": [
                {"date": d.isoformat(), "calls": calls, "reached": reached}
                for d, calls, reached in self.by_day
            ],
            "limited_by": self.limited_by,
            "never_finishes": [{"contacts": n, "why": why} for n, why in self.never_finishes],
            "basis": self.basis,
            "assumptions": self.assumptions,
        }


def _zone_sets(
    plan: Plan, groups: Sequence[ContactGroup]
) -> tuple[list[tuple[ZoneInfo, ...]], list[int]]:
    """The distinct zone sets whose hours apply, and each group's index into them. Where the
    window never closes and no per-day cap reads a local date, every contact is alike."""
    if always_open(plan.window) and plan.policy.per_day is None:
        return [(plan.zone,)], [0] * len(groups)
    sets: dict[tuple[str, ...], int] = {}
    found: list[tuple[ZoneInfo, ...]] = []
    index = []
    for group in groups:
        zones = plan.window.zones_for(group.zones)
        key = tuple(z.key for z in zones)
        if key not in sets:
            sets[key] = len(found)
            found.append(zones)
        index.append(sets[key])
    return found, index


def _step(plan: Plan, groups: Sequence[ContactGroup], beliefs: Beliefs) -> float:
    """Step length: the time the expected calls take at the expected rate, over `STEPS`."""
    expected = beliefs.expected()
    first = expected.for_attempt(1)
    redialed = sum(p for c, p in first.items() if c in plan.policy.outcomes)
    calls_each = sum(redialed**i for i in range(plan.policy.max_attempts))
    hold = expected.hold_s
    rate = max(MIN_RATE, min(plan.cps, plan.max_live_calls / hold if hold > 0 else plan.cps))
    contacts = sum(g.count for g in groups)
    return min(MAX_STEP_S, max(MIN_STEP_S, contacts * calls_each / rate / STEPS))


def _start(run: Run, setup: Setup, groups: Sequence[ContactGroup], index: list[int]) -> None:
    for group, zk in zip(groups, index, strict=True):
        endings = tuple(group.endings.get(c, 0) for c in setup.redialed)
        dials: tuple[float, ...] = ()
        if setup.keep_dials and group.last_dial_s is not None:
            dials = (group.last_dial_s,)
        history: History = (group.dials, group.counted, endings, dials)
        if group.in_flight:
            run.ended((zk, history), group.count, 0.0, held_left=0.5)
        else:  # the dispatcher's gate: frequency caps hold a due contact back
            due = setup.allowed(zk, dials, group.due_in_s)
            why = CAPS if due > group.due_in_s else RETRY if group.dials else WINDOWS
            run.wait((zk, history), group.count, due, why)


def _quantiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    cuts = statistics.quantiles(values, n=10, method="inclusive")
    return cuts[0], statistics.median(values), cuts[-1]


def forecast(
    plan: Plan,
    groups: Sequence[ContactGroup],
    beliefs: Beliefs,
    *,
    now: datetime,
    rng: random.Random,
    runs: int = DEFAULT_RUNS,
    reached_so_far: int = 0,
    notes: Sequence[str] = (),
) -> Forecast:
    """Forecast the open contacts in `groups` from `now`; `rng` seeds every run. `notes` lead
    the forecast's `assumptions` (what the caller took for granted, such as a resume now)."""
    groups = [g for g in groups if g.count > 0]
    sets, index = _zone_sets(plan, groups)
    setup = Setup(
        window=plan.window,
        policy=plan.policy,
        cps=plan.cps,
        max_live_calls=plan.max_live_calls,
        margin=plan.margin,
        now=now,
        dt=_step(plan, groups, beliefs),
        zone_sets=sets,
        days=Days(plan.zone, now),
    )
    results: list[RunResult] = []
    for _ in range(runs):
        run = Run(setup, beliefs.draw(rng), random.Random(rng.getrandbits(64)))
        _start(run, setup, groups, index)
        results.append(run.play())
    assumptions = [*notes, *(beliefs.assumptions.describe() if beliefs.basis == "assumed" else [])]
    return _summary(plan, beliefs, now, results, reached_so_far, assumptions)


def _summary(
    plan: Plan,
    beliefs: Beliefs,
    now: datetime,
    results: list[RunResult],
    reached_so_far: int,
    assumptions: list[str],
) -> Forecast:
    finishes = [r.finish_s for r in results if r.finish_s is not None]
    finish: tuple[datetime, datetime, datetime] | None = (now, now, now)  # nothing left to do
    if finishes:
        p10, p50, p90 = _quantiles(finishes)
        finish = tuple(now + timedelta(seconds=s) for s in (p10, p50, p90))  # type: ignore[assignment]
    calls = _quantiles([r.calls for r in results])
    reached = _quantiles([r.reached + reached_so_far for r in results])
    waited: dict[str, float] = {}
    never: dict[str, float] = {}
    days: dict[date, list[float]] = {}
    numbers: dict[int, int] = {}
    for r in results:
        for why, seconds in r.waited.items():
            waited[why] = waited.get(why, 0.0) + seconds
        for why, n in r.never.items():
            never[why] = never.get(why, 0.0) + n / len(results)
        for day, n in r.calls_by_day.items():
            days.setdefault(day, [0.0, 0.0])[0] += n / len(results)
        for day, n in r.reached_by_day.items():
            days.setdefault(day, [0.0, 0.0])[1] += n / len(results)
        for number, n in r.calls_by_number.items():
            numbers[number] = numbers.get(number, 0) + n
    expected = beliefs.expected()
    shares: dict[str, float] = {}
    for number, n in numbers.items():
        for outcome, p in expected.for_attempt(number).items():
            shares[outcome.value] = shares.get(outcome.value, 0.0) + n * p
    total = sum(shares.values())
    return Forecast(
        as_of=now,
        zone=plan.zone,
        finish=finish,
        calls_remaining=(round(calls[1]), round(calls[2])),
        contacts_reached=(round(reached[1]), round(reached[2])),
        outcomes={k: round(v / total, 3) for k, v in sorted(shares.items()) if v / total >= 5e-4},
        by_day=[
            (d, round(c), round(r)) for d, (c, r) in sorted(days.items()) if round(c) or round(r)
        ],
        limited_by=max(waited, key=waited.__getitem__) if waited else None,
        never_finishes=[(round(n), why) for why, n in sorted(never.items()) if round(n)],
        basis=beliefs.basis,
        assumptions=assumptions,
    )
