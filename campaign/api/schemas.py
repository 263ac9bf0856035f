"""Request and response models of the operator API (never ORM rows); they document OpenAPI.

Response shapes match the CLI's `--json` output, so a script can switch between the two.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from campaign.api.forecast_schemas import Forecast


class Problem(BaseModel):
    """An error, as `application/problem+json` (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[str] | None = None


class CampaignCreated(BaseModel):
    """The new campaign's id and its spec with every default filled in."""

    id: int
    spec: dict[str, Any]


class Campaign(BaseModel):
    """A campaign and its lifecycle state."""

    id: int
    name: str
    state: str
    spec: dict[str, Any]
    paused_reason: str | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Page(BaseModel):
    """Pagination of a list: `next_offset` is null on the last page."""

    total: int
    limit: int
    offset: int
    next_offset: int | None


class CampaignPage(Page):
    items: list[Campaign]


class Contact(BaseModel):
    """One contact of a campaign."""

    id: int
    phone: str
    external_id: str | None
    zones: list[str]
    state: str
    attempts: int
    next_due_at: datetime | None
    waiting_reason: str | None
    last_outcome: str | None
    closed_reason: str | None
    line_no: int | None


class ContactPage(Page):
    items: list[Contact]


class Lifecycle(BaseModel):
    """The state after a lifecycle verb; `changed` is false when the verb was a repeat."""

    id: int
    state: str
    previous: str
    changed: bool
    run: int | None


class RowProblem(BaseModel):
    """A row that was not stored: its 1-based line (header = 1), the value, and why."""

    line: int
    value: str
    reason: str


class UploadReport(BaseModel):
    """What an upload did; duplicates and rejected rows were not stored."""

    rows: int
    accepted: int
    duplicates: int
    suppressed: int
    rejected: list[RowProblem]
    duplicate_rows: list[RowProblem]


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
    forecast: Forecast | None = None


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


class DncEntry(BaseModel):
    phone: str
    added_at: datetime
    expires_at: datetime | None
    note: str | None


class DncPage(Page):
    items: list[DncEntry]


class DncImport(BaseModel):
    added: int
    rejected: list[RowProblem]


class PolicyCheck(BaseModel):
    """The spec as it would be stored (defaults filled in)."""

    valid: bool
    spec: dict[str, Any]
