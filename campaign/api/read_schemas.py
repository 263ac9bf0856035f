"""Response models of the console's read routes (attempts, pace, overview, key scope)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from campaign.api.schemas import Page


class Attempt(BaseModel):
    """One attempt, as the attempts table lists it."""

    id: int
    contact_id: int
    external_id: str | None
    phone: str
    run: int | None
    number: int
    state: str
    outcome: str | None
    sip_code: int | None
    amd: str | None
    reason: str | None
    decision: str | None
    duration_s: int | None
    queued_at: datetime
    sending_at: datetime | None
    ended_at: datetime | None


class AttemptPage(Page):
    items: list[Attempt]


class TimelineStep(BaseModel):
    """A step the attempt went through: queued, claimed, sent, accepted, answered, ended."""

    step: str
    at: datetime


class NotificationSeen(BaseModel):
    """A status notification the gateway posted for the attempt, and what was done with it."""

    received_at: datetime
    status: str | None
    result: str | None


class AttemptDetail(Attempt):
    """An attempt with its timeline, the gateway's ids and every notification it received."""

    reason_code: str | None
    error: str | None
    sid: str | None
    call_id: str | None
    conversation_id: str | None
    dial_tries: int
    dial_latency_ms: float | None
    deadline_at: datetime | None
    timeline: list[TimelineStep]
    notifications: list[NotificationSeen]


class PacePoint(BaseModel):
    """One interval ending at `at`: average dial-outs per second and the peak of live calls."""

    at: datetime
    calls_per_second: float
    live_calls: int


class Pace(BaseModel):
    """Achieved pace per interval against the configured limits."""

    campaign_id: int
    step_s: float
    cps_limit: float
    max_live_calls: int
    points: list[PacePoint]


class CampaignSummary(BaseModel):
    """A campaign at a glance: state and why, progress, pace against its limits, next run."""

    id: int
    name: str
    state: str
    paused_reason: str | None
    next_run_at: datetime | None
    updated_at: datetime
    total_contacts: int
    finished_contacts: int
    contacts: dict[str, int]
    waiting: dict[str, int]
    calls_per_second: float
    cps_limit: float
    live_calls: int
    max_live_calls: int


class OverviewPage(Page):
    items: list[CampaignSummary]


class KeyScope(BaseModel):
    """What the key that made the request may do: `operator` acts, `read` only looks."""

    scope: str


class SpecDocument(BaseModel):
    """A spec read from YAML or JSON text, as the JSON the other spec routes take."""

    document: Any


class WaitingReason(BaseModel):
    """Pending contacts held for one reason, and the earliest time one of them is due again."""

    reason: str
    contacts: int
    next_due_at: datetime | None


class WaitingList(BaseModel):
    items: list[WaitingReason]
