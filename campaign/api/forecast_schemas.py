"""Response models of the forecast (`GET /api/v1/campaigns/{id}/forecast`, and `status`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Percentiles(BaseModel):
    """When the last contact closes, as ISO 8601 with offset (null: never)."""

    p10: str | None
    p50: str | None
    p90: str | None


class Spread(BaseModel):
    p50: int
    p90: int


class Day(BaseModel):
    """Calls placed and people reached on one local date (the campaign's zone)."""

    date: str
    calls: int
    reached: int


class NeverFinishes(BaseModel):
    contacts: int
    why: str


class Forecast(BaseModel):
    """When the campaign (or its current run) will be done and what it will take.

    `finish` is in the campaign's zone (`timezone`), `finish_utc` the same instants in UTC;
    `contacts_reached` counts calls a person answered, those already made included; `outcomes`
    are the expected shares of the remaining calls; `limited_by` is one of pace, live calls,
    windows, retry delays, frequency caps (null when nothing is left); `basis` is `observed` once
    enough of the campaign's own calls were seen, else `assumed` (see `assumptions`).
    """

    as_of: str
    timezone: str
    finish: Percentiles
    finish_utc: Percentiles
    calls_remaining: Spread
    contacts_reached: Spread
    outcomes: dict[str, float]
    by_day: list[Day]
    limited_by: str | None
    never_finishes: list[NeverFinishes]
    basis: str = Field(pattern="^(observed|assumed)$")
    assumptions: list[str]
    run: int | None
    run_starts: str | None
