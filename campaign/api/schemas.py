"""Request and response models of the operator API (never ORM rows); they document OpenAPI.

A resource the services already shape as a frozen dataclass (a campaign, a contact, a
do-not-call entry, a lifecycle result, a rerun) is returned as that dataclass, which FastAPI
documents and serialises as it is: no second copy of its fields here. Response shapes match
the CLI's `--json` output, so a script can switch between the two.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from campaign.api.forecast_schemas import Forecast
from campaign.services.campaigns import CampaignView
from campaign.services.dnc_admin import DncEntry


class Problem(BaseModel):
    """An error, as `application/problem+json` (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[str] | None = None
    allowed: list[str] | None = Field(default=None, description="the values a field takes")


class CampaignCreated(BaseModel):
    """The new campaign's id and its spec with every default filled in."""

    id: int
    spec: dict[str, Any]


class Page(BaseModel):
    """Pagination of a list: `next_offset` is null on the last page."""

    total: int
    limit: int
    offset: int
    next_offset: int | None


class CampaignPage(Page):
    items: list[CampaignView]


class RowProblem(BaseModel):
    """A row that was not stored: its 1-based line (header = 1), the value, and why."""

    line: int
    value: str
    reason: str


class UploadReport(BaseModel):
    """What an upload did; duplicates and rejected rows were not stored. At most 1,000 rows are
    listed in each list; `*_omitted` counts the rest."""

    rows: int
    accepted: int
    duplicates: int
    suppressed: int
    rejected: list[RowProblem]
    rejected_total: int
    rejected_omitted: int
    duplicate_rows: list[RowProblem]
    duplicate_rows_omitted: int
    suppressed_reasons: dict[str, int] = Field(
        description="suppressed rows by reason (do-not-call list, no consent)"
    )
    suppressed_rows: list[RowProblem]
    suppressed_rows_omitted: int
    reopened_run: int | None = Field(
        description="the run an upload to a completed campaign opened to call its new contacts"
    )
    note: str | None = Field(description="when the accepted contacts are called, if not now")


class RerunRequest(BaseModel):
    """Which contacts a rerun reopens: those whose last outcome is in `outcomes` (done ones
    included, suppressed ones never); omitted or null: every contact not done or suppressed."""

    outcomes: list[str] | None = Field(
        default=None, max_length=32, description="outcome classes, e.g. busy, no_answer, machine"
    )


class Run(BaseModel):
    number: int
    state: str
    scheduled_for: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    note: str | None
    attempts: int
    outcomes: dict[str, int]


class Status(BaseModel):
    """Counts by contact state and outcome class, live calls, recent calls/s, waiting reasons."""

    id: int
    name: str
    state: str
    contacts: dict[str, int]
    outcomes: dict[str, int]
    attempts: int
    live_calls: int
    calls_per_second: float
    waiting: dict[str, int]
    paused_reason: str | None
    next_run_at: datetime | None
    eta_seconds: float | None
    runs: list[Run]
    total_contacts: int
    gateway: dict[str, str | None] = Field(
        default_factory=dict,
        description="the gateway breaker: state (closed | open | half_open), since, next_probe_at",
    )
    forecast: Forecast | None = None
    dispositions: dict[str, int] = Field(
        default_factory=dict, description="contacts by the disposition the bot or an operator gave"
    )
    events: dict[str, Any] = Field(
        default_factory=dict,
        description="the events outbox: pending, failing, failing_since, dead, delivered",
    )


class DncAdd(BaseModel):
    """Numbers to put on the do-not-call list, with an optional expiry and note."""

    numbers: list[str] = Field(min_length=1, max_length=1000)
    expires: str | None = Field(
        default=None, max_length=64, description="duration (90d), date, or ISO time with offset"
    )
    note: str | None = Field(default=None, max_length=1000)
    region: str | None = Field(default=None, max_length=3, description="for numbers without +")


class DncAdded(BaseModel):
    added: list[str]


class DncRemoved(BaseModel):
    removed: int


class DncPage(Page):
    items: list[DncEntry]


class DncImport(BaseModel):
    added: int
    rejected: list[RowProblem]
    rejected_total: int
    rejected_omitted: int


class PolicyCheck(BaseModel):
    """The spec as it would be stored (defaults filled in)."""

    valid: bool
    spec: dict[str, Any]
