"""The read side for operators: campaign status (counts, rates, runs) and the per-attempt export.

Plain grouped SELECTs over the indexed columns, no domain objects; the export streams through a
server-side cursor so a campaign of millions of attempts is never loaded whole.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import IO, Any
from zoneinfo import ZoneInfo

from redis import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.breaker import Breaker
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, RunRow
from campaign.domain.reasons import Waiting
from campaign.domain.states import ATTEMPT_LIVE, AttemptState, CampaignState, ContactState
from campaign.services import event_reads
from campaign.services.campaigns import get_campaign_row
from campaign.services.csv_files import SafeCsvWriter
from campaign.services.forecast import recent_forecast

RATE_WINDOW = timedelta(seconds=10)
"""Calls per second are measured over the last RATE_WINDOW of dial-outs."""

EXPORT_COLUMNS = (
    "contact_id",
    "external_id",
    "number",
    "zone",
    "local_time",
    "run",
    "attempt",
    "outcome",
    "status",
    "reasonCode",
    "sip_code",
    "amd",
    "duration",
    "sid",
    "callId",
    "conversationId",
    "decision",
    "disposition",
    "disposition_label",
    "caller",
)
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


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return None


_EXPORT_SELECT = (
    AttemptRow.contact_id,
    ContactRow.external_id,
    AttemptRow.phone,
    ContactRow.zones,
    func.coalesce(AttemptRow.sending_at, AttemptRow.claimed_at, AttemptRow.queued_at),
    RunRow.number,
    AttemptRow.number,
    AttemptRow.outcome,
    AttemptRow.state,
    AttemptRow.reason_code,
    AttemptRow.sip_code,
    AttemptRow.amd,
    AttemptRow.duration_s,
    AttemptRow.sid,
    AttemptRow.call_id,
    AttemptRow.conversation_id,
    AttemptRow.decision,
    AttemptRow.disposition,
    AttemptRow.disposition_label,
    AttemptRow.caller,
)


def export_rows(session: Session, campaign_id: int, *, chunk: int = 2000) -> Iterator[list[object]]:
    """One row per attempt (EXPORT_COLUMNS order), oldest first, through a server-side cursor.

    `local_time` is when the call was sent (else claimed, else queued) in the contact's first
    zone. Must run inside a transaction (server-side cursors live in one).
    """
    get_campaign_row(session, campaign_id)
    query = (
        select(*_EXPORT_SELECT)
        .join(ContactRow, ContactRow.id == AttemptRow.contact_id)
        .outerjoin(RunRow, RunRow.id == AttemptRow.run_id)
        .where(AttemptRow.campaign_id == campaign_id)
        .order_by(AttemptRow.id)
        .execution_options(yield_per=chunk)
    )
    for contact_id, external_id, phone, zones, at, *rest in session.execute(query).tuples():
        zone_name = zones[0] if zones else "UTC"
        zone = _zone(zone_name)
        local = at.astimezone(zone) if zone else at
        tail = ["" if value is None else value for value in rest]
        yield [contact_id, external_id or "", phone, zone_name, local.isoformat(), *tail]


def _write_export(session: Session, campaign_id: int, out: IO[str]) -> Iterator[int]:
    """Write the header, then each attempt row, yielding the count so far after each row.

    Values from uploads and from the gateway are anyone's text: cells a spreadsheet would run as
    formulas are neutralised (csv_files), phone numbers kept as they are.
    """
    writer = SafeCsvWriter(out)
    writer.writerow(EXPORT_COLUMNS)
    for number, row in enumerate(export_rows(session, campaign_id), 1):
        writer.writerow(row)
        yield number


def write_export(session: Session, campaign_id: int, out: IO[str]) -> int:
    """Write the export CSV (header + one row per attempt) to `out`; returns the row count."""
    count = 0
    for count in _write_export(session, campaign_id, out):  # noqa: B007 - the last count is kept
        pass
    return count


def export_chunks(session: Session, campaign_id: int, rows_per_chunk: int = 1000) -> Iterator[str]:
    """The export CSV as text chunks of `rows_per_chunk` rows, for a streamed response."""
    buffer = io.StringIO()
    for number in _write_export(session, campaign_id, buffer):
        if number % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
