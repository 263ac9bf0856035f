"""Forecasting a stored campaign: read what the model needs (`forecast_reads`), then run it.

What calls end in and how long they hold a live-call slot come from the campaign's own latest
attempts; until there are enough of them the stated assumptions carry the forecast (`basis`).

Which run is forecast: the current one of a running or paused campaign (paused: as if resumed
now); a draft as if started now; a recurring campaign between runs, its next run from when it is
due; a completed or cancelled one with no run to come reports when it finished.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import CampaignRow, RunRow
from campaign.domain.forecast import Forecast, Plan, forecast
from campaign.domain.forecast_mix import Assumptions, Beliefs
from campaign.domain.pacing import PacingLimits
from campaign.domain.recurrence import next_run
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import CampaignState
from campaign.errors import InvalidInput, SpecInvalid
from campaign.limits import RateLimit
from campaign.services.campaigns import get_campaign_row
from campaign.services.forecast_reads import (
    achieved_pace,
    current_groups,
    next_run_groups,
    observations,
    reached_so_far,
)
from campaign.services.specs import load_spec

DEFAULT_SEED = 1
SLOW_PACE = 0.9
"""An achieved pace below this share of the configured one is taken as the engine's ceiling."""
NOTES = {
    CampaignState.DRAFT.value: "as if started now",
    CampaignState.PAUSED.value: "as if resumed now",
}
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
        margin=spec.ring_margin,
        zone=campaign_zone(spec),
    )


def assumptions_for(spec: CampaignSpec) -> Assumptions:
    """What is assumed before enough calls were seen, bounded by the spec's own timers."""
    return Assumptions.for_calls(spec.ring_margin, spec.pacing.max_call_duration)


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


def _at_achieved_pace(
    plan: Plan, beliefs: Beliefs, achieved: float | None
) -> tuple[Plan, list[str]]:
    """The plan at the pace the engine really achieved, when that is clearly below the
    configured one and the pace (not the live-call cap) is what holds the campaign."""
    if achieved is None or achieved >= SLOW_PACE * plan.cps:
        return plan, []
    if plan.max_live_calls / beliefs.expected().hold_s < plan.cps:
        return plan, []  # the live-call cap binds: the model plays it from the call lengths
    note = (
        f"calls went out at {achieved:.2f}/s lately, below the pace of {plan.cps:.2f}/s: "
        "forecast at that rate"
    )
    return replace(plan, cps=achieved), [note]


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
    beliefs = Beliefs(assumptions_for(spec), observations(session, campaign_id, now))
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
    reached = reached_so_far(session, campaign_id, run.id if run else None)
    if state in _FINISHED:
        return CampaignForecast(
            _finished(row, run, plan, beliefs, reached, now), run.number if run else None
        )
    notes = [NOTES[state]] if state in NOTES else []
    if cps is None and state == CampaignState.RUNNING.value:
        plan, slower = _at_achieved_pace(plan, beliefs, achieved_pace(session, campaign_id, now))
        notes += slower
    policy = spec.retry
    caps = bool(policy.per_day or policy.per_week or policy.min_gap)
    groups = current_groups(
        session, campaign_id, run.id if run else None, now, sorted(policy.outcomes), caps
    )
    result = forecast(plan, groups, beliefs, now=now, rng=rng, reached_so_far=reached, notes=notes)
    return CampaignForecast(result, run.number if run else None)


# The status of a campaign carries its forecast, and status is polled (the console every few
# seconds, `status --watch`): a forecast costs ~0.2 s of CPU per 10k contacts, so a polled one
# is recomputed at most every STATUS_FORECAST_TTL_S per campaign and process.
STATUS_FORECAST_TTL_S = 30.0
_recent: dict[int, tuple[float, CampaignForecast]] = {}


def recent_forecast(session: Session, campaign_id: int, *, now: datetime) -> CampaignForecast:
    """The campaign's forecast, reused for STATUS_FORECAST_TTL_S (monotonic) once computed."""
    seen = _recent.get(campaign_id)
    if seen is not None and time.monotonic() - seen[0] < STATUS_FORECAST_TTL_S:
        return seen[1]
    outlook = forecast_campaign(session, campaign_id, now=now)
    if len(_recent) > 1024:
        _recent.clear()
    _recent[campaign_id] = (time.monotonic(), outlook)
    return outlook
