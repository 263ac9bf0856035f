"""How right the forecast is: real campaigns on the simulator, forecasts taken on the way.

Each seeded run starts a campaign on a real stack (simulator, API, Celery workers, a dispatcher),
forecasts it with `forecast_campaign` as soon as it starts (0 %, where the forecast can only use
its stated assumptions), when 10 % and when 50 % of its contacts are closed, and lets it finish.
The actual finish is the end of its last call; the actual calls are its attempts. Scenarios:

- `pace`: 5 calls/s binds; busy, rejected and no-answer redials after a few seconds.
- `live`: 4 live calls bind (calls of 0.5-2 s at time_scale 0.05) while 20 calls/s do not.
- `retry`: half the calls are busy and redialed after 4, 6, 8 s, `min_gap` 3 s: retry delays
  set the end.
- `window`: 3 calls/s, and the calling window closes for a whole minute 25 to 45 s after the
  start, while most contacts are left (each call must also fit its 3 s ring time before it).

The simulator's outcome mixes are not the forecast's assumed one, so the 0 % error shows what an
assumption costs; from 10 % on the forecast reads the campaign's own calls. The targets (issue
#14) are read at 10 %: p50 finish within 10 % of the actual duration, calls within 5 %, and the
actual finish inside [p10, p90] in at least 8 runs of 10.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from bench.env import Stack, running_stack
from bench.figures import Report, figure
from bench.runs import campaign_state, start_loop
from campaign.clock import utcnow
from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, ContactRow
from campaign.services.forecast import forecast_campaign
from campaign.settings import Settings
from tests import factories

PROGRESS = (0, 10, 50)
FINISH_TARGET_PCT = 10.0
CALLS_TARGET_PCT = 5.0
BAND_TARGET_PCT = 80.0
_FAILSAFE = {"lost": {"delays": ["1s"]}, "gateway_error": {"delays": ["1s"]}}


@dataclass(frozen=True)
class Scenario:
    """A campaign and the simulated world it dials."""

    contacts: int
    pacing: dict[str, Any]
    retry: dict[str, Any]
    sim: dict[str, Any]
    window_gap: bool = False


SCENARIOS = {
    "pace": Scenario(
        200,
        {"cps": 5, "max_live_calls": 30, "max_call_duration": "10s"},
        {
            "max_attempts": 4,
            "outcomes": {
                "busy": {"delays": ["2s", "3s"]},
                "rejected": {"delays": ["3s"], "max": 2},
                "no_answer": {"delays": ["4s"]},
                **_FAILSAFE,
            },
        },
        {
            "time_scale": 0.01,
            "mix": {"human": 0.45, "machine": 0.15, "busy": 0.2, "no_answer": 0.1, "rejected": 0.1},
        },
    ),
    "live": Scenario(
        120,
        {"cps": 20, "max_live_calls": 4, "max_call_duration": "30s"},
        {
            "max_attempts": 3,
            "outcomes": {"busy": {"delays": ["2s"]}, "no_answer": {"delays": ["2s"]}, **_FAILSAFE},
        },
        {
            "time_scale": 0.05,
            "mix": {"human": 0.6, "machine": 0.2, "busy": 0.1, "no_answer": 0.1},
            "talk_s": {"min": 10, "max": 40},
        },
    ),
    "retry": Scenario(
        250,
        {"cps": 12, "max_live_calls": 30, "max_call_duration": "10s"},
        {
            "max_attempts": 5,
            "min_gap": "3s",
            "outcomes": {
                "busy": {"delays": ["4s", "6s", "8s"]},
                "no_answer": {"delays": ["5s"]},
                **_FAILSAFE,
            },
        },
        {"time_scale": 0.01, "mix": {"busy": 0.5, "human": 0.4, "no_answer": 0.1}},
    ),
    "window": Scenario(
        150,
        {"cps": 3, "max_live_calls": 30, "max_call_duration": "10s"},
        {
            "max_attempts": 4,
            "outcomes": {
                "busy": {"delays": ["2s", "3s"]},
                "no_answer": {"delays": ["4s"]},
                **_FAILSAFE,
            },
        },
        {"time_scale": 0.01, "mix": {"human": 0.5, "machine": 0.2, "busy": 0.2, "no_answer": 0.1}},
        window_gap=True,
    ),
}
_RING = {"ring_s": {"min": 1, "max": 3}}


@dataclass(frozen=True)
class AccuracySizes:
    """Which scenario each seeded run plays (run i gets seed i + 1), contacts scaled by `scale`."""

    runs: tuple[str, ...] = (
        "pace",
        "live",
        "retry",
        "window",
        "pace",
        "live",
        "retry",
        "pace",
        "live",
        "window",
    )
    scale: float = 1.0
    workers: int = 2
    concurrency: int = 8
    max_seconds: float = 400.0

    @classmethod
    def quick(cls) -> AccuracySizes:
        return cls(runs=("pace", "retry"), scale=0.5)

    @classmethod
    def tiny(cls) -> AccuracySizes:
        return cls(runs=("retry",), scale=0.3, workers=1)


@dataclass
class Snapshot:
    """One forecast taken on the way: when, calls made by then, and what it said."""

    at: datetime
    calls_before: int
    forecast: dict[str, Any]

    def finish(self, key: str) -> datetime:
        return datetime.fromisoformat(self.forecast["finish_utc"][key])

    @property
    def calls(self) -> int:
        return self.calls_before + int(self.forecast["calls_remaining"]["p50"])


@dataclass
class Outcome:
    """One seeded run: what happened and what was forecast at each progress point."""

    scenario: str
    seed: int
    started: datetime
    finished: datetime | None = None
    calls: int = 0
    snapshots: dict[int, Snapshot] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        assert self.finished is not None  # only measured runs are scored
        return (self.finished - self.started).total_seconds()

    def finish_error_pct(self, progress: int) -> float:
        snap = self.snapshots[progress]
        return 100 * abs((snap.finish("p50") - self.finished).total_seconds()) / self.duration_s  # type: ignore[operator]

    def inside_band(self, progress: int) -> bool:
        snap = self.snapshots[progress]
        return snap.finish("p10") <= self.finished <= snap.finish("p90")  # type: ignore[operator]

    def calls_error_pct(self, progress: int) -> float:
        return 100 * abs(self.snapshots[progress].calls - self.calls) / max(1, self.calls)


def _window_start() -> datetime:
    """Wait for second 15 to 35 of a minute, so the next minute (closed) begins 25 to 45 s
    after the campaign starts, while most of its contacts are still to be called."""
    second = utcnow().second
    if not 15 <= second < 35:
        time.sleep((75 - second) % 60)
    return utcnow()


def _window(now: datetime) -> dict[str, Any]:
    """Open now, closed for the whole next minute, open again after it."""
    start = now.replace(second=0, microsecond=0)
    closes = start + timedelta(minutes=1)
    reopens = closes + timedelta(minutes=1)
    hours = f"{start:%H:%M}-{closes:%H:%M},{reopens:%H:%M}-24:00"
    return {"timezone": "UTC", "hours": {"mon-sun": hours}}


def _counts(stack: Stack, campaign_id: int) -> tuple[int, int, int]:
    """(contacts closed, contacts, attempts made)."""
    with stack.runtime.sessions() as session:
        states = dict(
            session.execute(
                select(ContactRow.state, func.count())
                .where(ContactRow.campaign_id == campaign_id)
                .group_by(ContactRow.state)
            ).all()
        )
        calls = session.scalar(
            select(func.count()).where(
                AttemptRow.campaign_id == campaign_id, AttemptRow.state != "released"
            )
        )
    total = sum(states.values())
    closed = total - states.get("pending", 0) - states.get("in_flight", 0)
    return closed, total, int(calls or 0)


def _snapshot(stack: Stack, campaign_id: int, calls_before: int) -> Snapshot:
    now = utcnow()
    with transaction(stack.runtime.sessions) as session:
        result = forecast_campaign(session, campaign_id, now=now)
    return Snapshot(now, calls_before, result.to_dict())


def _play(stack: Stack, name: str, seed: int, sizes: AccuracySizes, first_phone: int) -> Outcome:
    scenario = SCENARIOS[name]
    now = utcnow()
    if scenario.window_gap and (now + timedelta(minutes=4)).date() != now.date():
        name, scenario = "pace", SCENARIOS["pace"]  # the closed minute would cross midnight
    stack.sim.reset()
    stack.sim.configure(**{**_RING, **scenario.sim, "seed": seed})
    count = max(10, round(scenario.contacts * sizes.scale))
    overrides: dict[str, Any] = {"pacing": scenario.pacing, "retry": scenario.retry}
    if scenario.window_gap:
        overrides["window"] = _window(_window_start())
    with transaction(stack.runtime.sessions) as session:
        campaign_id = factories.make_campaign(session, factories.spec(**overrides))
        factories.add_contacts(
            session, campaign_id, factories.us_numbers(count, start=first_phone), zones=["UTC"]
        )
    outcome = Outcome(name, seed, utcnow())
    outcome.snapshots[0] = _snapshot(stack, campaign_id, 0)
    deadline = time.monotonic() + sizes.max_seconds
    while campaign_state(stack, campaign_id) != "completed":
        stack.check_alive()
        if time.monotonic() > deadline:
            print(f"forecast accuracy: {name} seed {seed} not done in {sizes.max_seconds:.0f} s")
            return outcome
        closed, total, calls = _counts(stack, campaign_id)
        for progress in PROGRESS:
            if progress not in outcome.snapshots and closed * 100 >= progress * total:
                outcome.snapshots[progress] = _snapshot(stack, campaign_id, calls)
        time.sleep(0.25)
    with stack.runtime.sessions() as session:
        outcome.finished = session.scalar(
            select(func.max(AttemptRow.ended_at)).where(AttemptRow.campaign_id == campaign_id)
        )
    outcome.calls = _counts(stack, campaign_id)[2]
    return outcome


def _table(outcomes: list[Outcome]) -> str:
    lines = [
        "scenario  seed  actual s  calls | at %  p10 s   p50 s   p90 s  in band  err %  "
        "calls fc  err % | basis  limited by"
    ]
    for o in outcomes:
        if o.finished is None:
            lines.append(f"{o.scenario:<9} {o.seed:>4}  did not finish")
            continue
        for progress, snap in sorted(o.snapshots.items()):
            offsets = [(snap.finish(k) - o.started).total_seconds() for k in ("p10", "p50", "p90")]
            band = "yes" if o.inside_band(progress) else "NO"
            lines.append(
                f"{o.scenario:<9} {o.seed:>4}  {o.duration_s:8.1f} {o.calls:6d} | {progress:4d} "
                + " ".join(f"{x:7.1f}" for x in offsets)
                + f"  {band:>7} {o.finish_error_pct(progress):6.1f}"
                + f"  {snap.calls:8d} {o.calls_error_pct(progress):6.1f} | "
                + f"{snap.forecast['basis']:<8} {snap.forecast['limited_by']}"
            )
    return "\n".join(lines)


def accuracy(settings: Settings, sizes: AccuracySizes, report: Report) -> None:
    """`forecast_error_*` figures: finish and calls errors, and how often the band held."""
    outcomes: list[Outcome] = []
    with running_stack(settings, {"time_scale": 0.01}) as stack:
        start_loop(stack, sizes.workers, sizes.concurrency, 1)
        for i, name in enumerate(sizes.runs):
            outcomes.append(_play(stack, name, i + 1, sizes, first_phone=i * 1000))
    scored = [o for o in outcomes if o.finished is not None and len(o.snapshots) == len(PROGRESS)]
    title = "forecast accuracy: each seeded run (seconds from its start)"
    report.sections[title] = _table(outcomes)
    if not scored:
        raise RuntimeError("no accuracy run finished with all its forecasts")
    for progress in PROGRESS:
        inside = sum(o.inside_band(progress) for o in scored)
        report.add(
            [
                figure(
                    f"forecast_error_finish_pct_{progress}",
                    [o.finish_error_pct(progress) for o in scored],
                    "% of duration",
                    at_most=FINISH_TARGET_PCT if progress == 10 else None,
                    digits=1,
                ),
                figure(
                    f"forecast_error_calls_pct_{progress}",
                    [o.calls_error_pct(progress) for o in scored],
                    "% of calls",
                    at_most=CALLS_TARGET_PCT if progress == 10 else None,
                    digits=1,
                ),
                figure(
                    f"forecast_error_band_pct_{progress}",
                    [100 * inside / len(scored)],
                    "% of runs in [p10, p90]",
                    at_least=BAND_TARGET_PCT if progress == 10 else None,
                    digits=0,
                ),
            ]
        )
    report.add([figure("forecast_error_runs", [len(scored)], "runs", digits=0)])
    worst = max((o.finish_error_pct(10) for o in scored), default=0.0)
    report.sections["forecast accuracy: summary"] = (
        f"{len(scored)} of {len(outcomes)} runs scored; worst finish error at 10 %: {worst:.1f} %; "
        f"median duration {statistics.median(o.duration_s for o in scored):.0f} s"
    )
