"""The read side for operators: campaign status (counts, rates, runs, what waits and why).

Plain grouped SELECTs over the indexed columns, no domain objects. The per-attempt CSV is
`services.export`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.breaker import Breaker
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, RunRow
from campaign.domain.reasons import Waiting
from campaign.domain.states import ATTEMPT_LIVE, AttemptState, CampaignState, ContactState
from campaign.services import event_reads
from campaign.services.campaigns import get_campaign_row
from campaign.services.forecast import recent_forecast

RATE_WINDOW = timedelta(seconds=10)
"""Calls per second are measured over the last RATE_WINDOW of dial-outs."""

_LIVE = tuple(s.value for s in ATTEMPT_LIVE)
_OPEN = (ContactState.PENDING, ContactState.IN_FLIGHT)
_NOT_STARTED = {
    CampaignState.DRAFT.value: Waiting.NOT_STARTED.value,
    CampaignState.SCHEDULED.value: Waiting.NOT_STARTED.value,
}


@dataclass(frozen=True)
class RunSummary:
    """One run and what happened in it (attempts carry their run id)."""

    number: int
    state: str
    scheduled_for: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    note: str | None
    attempts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignStatus:
    """Everything `campaign status` shows; `to_dict` is the contract's `--json` shape (plus
    `name`, `next_run_at`, `eta_seconds`, `total_contacts`, `forecast`). The ETA is the
    forecast's median finish (`services.forecast`), seconds from now."""

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
    runs: list[RunSummary]
    gateway: dict[str, str | None] = field(default_factory=dict)
    forecast: dict[str, Any] | None = None
    dispositions: dict[str, int] = field(default_factory=dict)
    # The events outbox (`services.event_reads.outbox`): pending, failing, failing_since, dead.
    events: dict[str, Any] = field(default_factory=dict)

    @property
    def total_contacts(self) -> int:
        return sum(self.contacts.values())

    @property
    def finished_contacts(self) -> int:
        """Contacts the current run is done with (every state but pending and in flight)."""
        return self.total_contacts - sum(self.contacts.get(s.value, 0) for s in _OPEN)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_contacts"] = self.total_contacts
        data["next_run_at"] = _iso(self.next_run_at)
        data["runs"] = [
            {
                **asdict(run),
                **{
                    k: _iso(getattr(run, k)) for k in ("scheduled_for", "started_at", "finished_at")
                },
            }
            for run in self.runs
        ]
        return data


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _counts(session: Session, column: Any, *where: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).where(*where).group_by(column))
    return {str(key): int(count) for key, count in rows if key is not None}


def _runs(session: Session, campaign_id: int) -> list[RunSummary]:
    per_run: dict[int | None, dict[str, int]] = {}
    totals: dict[int | None, int] = {}
    rows = session.execute(
        select(AttemptRow.run_id, AttemptRow.outcome, func.count())
        .where(
            AttemptRow.campaign_id == campaign_id, AttemptRow.state != AttemptState.RELEASED.value
        )
        .group_by(AttemptRow.run_id, AttemptRow.outcome)
    )
    for run_id, outcome, count in rows:
        totals[run_id] = totals.get(run_id, 0) + count
        if outcome is not None:
            per_run.setdefault(run_id, {})[outcome] = count
    runs = session.scalars(
        select(RunRow).where(RunRow.campaign_id == campaign_id).order_by(RunRow.number)
    )
    return [
        RunSummary(
            number=run.number,
            state=run.state,
            scheduled_for=run.scheduled_for,
            started_at=run.started_at,
            finished_at=run.finished_at,
            note=run.note,
            attempts=totals.get(run.id, 0),
            outcomes=per_run.get(run.id, {}),
        )
        for run in runs
    ]


def _waiting(session: Session, campaign_id: int, state: str) -> dict[str, int]:
    """Why pending contacts are not being called: the engine's `waiting_reason`, or, where it
    wrote none, what the campaign state implies."""
    pending = (
        ContactRow.campaign_id == campaign_id,
        ContactRow.state == ContactState.PENDING.value,
    )
    if state == CampaignState.PAUSED.value:
        count = session.scalar(select(func.count()).select_from(ContactRow).where(*pending)) or 0
        return {Waiting.CAMPAIGN_PAUSED.value: count} if count else {}
    label = _NOT_STARTED.get(state, Waiting.DUE.value)
    reason = func.coalesce(ContactRow.waiting_reason, label)
    return _counts(session, reason, *pending)


BreakerLookup = Callable[[str | None], Breaker]
"""The breaker of the gateway a campaign dials, by trunk (read from Redis by the caller)."""


def _gateway(
    campaign: CampaignRow, waiting: dict[str, int], breakers: BreakerLookup | None
) -> dict[str, str | None]:
    """The gateway breaker's state for `status`; while it is open, contacts that are due (or held
    by it) wait for it, and `waiting` says until when."""
    if breakers is None:
        return {}
    trunk = (campaign.spec.get("gateway") or {}).get("trunk")
    try:
        breaker = breakers(trunk)
    except RedisError:
        return {"state": "unknown (Redis unreachable)"}
    if breaker.open:
        held = waiting.pop(Waiting.DUE, 0) + waiting.pop(Waiting.GATEWAY_UNAVAILABLE, 0)
        if held:
            waiting[breaker.reason()] = held
    return {
        "id": breaker.gateway,
        "state": breaker.state.value,
        "since": _iso(breaker.since),
        "next_probe_at": _iso(breaker.until),
    }


def campaign_status(
    session: Session,
    campaign_id: int,
    now: datetime,
    breakers: BreakerLookup | None = None,
    *,
    forecast: bool = True,
) -> CampaignStatus:
    """Counts by contact state and outcome class, attempts, live calls, recent calls/s, the
    forecast (and its median finish as the ETA; `forecast=False` spares its cost to callers
    that only want the counts), contacts by disposition, why contacts wait, the gateway
    breaker (when `breakers` can read it), and the history of runs."""
    campaign = get_campaign_row(session, campaign_id)
    of_campaign = AttemptRow.campaign_id == campaign_id
    attempts = session.scalar(
        select(func.count()).where(of_campaign, AttemptRow.state != AttemptState.RELEASED.value)
    )
    live = session.scalar(select(func.count()).where(of_campaign, AttemptRow.state.in_(_LIVE)))
    recent = session.scalar(
        select(func.count()).where(of_campaign, AttemptRow.sending_at > now - RATE_WINDOW)
    )
    cps = round((recent or 0) / RATE_WINDOW.total_seconds(), 3)
    contacts = _counts(session, ContactRow.state, ContactRow.campaign_id == campaign_id)
    still_open = sum(contacts.get(s.value, 0) for s in _OPEN)
    waiting = _waiting(session, campaign_id, campaign.state)
    gateway = _gateway(campaign, waiting, breakers)
    outlook = recent_forecast(session, campaign_id, now=now) if forecast else None
    return CampaignStatus(
        id=campaign.id,
        name=campaign.name,
        state=campaign.state,
        contacts=contacts,
        outcomes=_counts(session, AttemptRow.outcome, of_campaign),
        attempts=attempts or 0,
        live_calls=live or 0,
        calls_per_second=cps,
        waiting=waiting,
        paused_reason=campaign.paused_reason,
        next_run_at=campaign.next_run_at,
        eta_seconds=outlook.eta_seconds() if outlook and still_open else None,
        runs=_runs(session, campaign_id),
        gateway=gateway,
        forecast=outlook.to_dict() if outlook else None,
        dispositions=_counts(
            session, ContactRow.disposition, ContactRow.campaign_id == campaign_id
        ),
        events=event_reads.outbox(session, campaign_id),
    )
