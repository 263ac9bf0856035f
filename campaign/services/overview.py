"""Every campaign at a glance: state and why, progress, pace against its limits, next run.

The console's list polls this, so it costs a fixed number of grouped SELECTs per page of campaigns
(never one status per campaign): contacts by state, pending contacts by waiting reason, live
attempts, and dial-outs in the last `reporting.RATE_WINDOW` (the same measure `status` uses for
calls per second).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.domain.states import ATTEMPT_LIVE, ContactState
from campaign.services.campaigns import get_campaign_row
from campaign.services.reporting import RATE_WINDOW

_OPEN = (ContactState.PENDING.value, ContactState.IN_FLIGHT.value)


@dataclass(frozen=True)
class CampaignSummary:
    """One line of the campaigns list."""

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


def _grouped(session: Session, ids: list[int], key: Any, *where: Any) -> dict[int, dict[str, int]]:
    """`{campaign_id: {key: count}}` over contacts of the given campaigns."""
    found: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(ContactRow.campaign_id, key, func.count())
        .where(ContactRow.campaign_id.in_(ids), *where)
        .group_by(ContactRow.campaign_id, key)
    )
    for campaign_id, value, count in rows:
        found.setdefault(campaign_id, {})[str(value)] = int(count)
    return found


def _attempt_counts(session: Session, ids: list[int], *where: Any) -> dict[int, int]:
    rows = session.execute(
        select(AttemptRow.campaign_id, func.count())
        .where(AttemptRow.campaign_id.in_(ids), *where)
        .group_by(AttemptRow.campaign_id)
    )
    return {campaign_id: int(count) for campaign_id, count in rows}


def campaign_overview(
    session: Session, *, now: datetime, limit: int, offset: int
) -> tuple[list[CampaignSummary], int]:
    """A page of campaigns, newest first, each with its progress and pace; and the total."""
    total = session.scalar(select(func.count()).select_from(CampaignRow)) or 0
    campaigns = session.scalars(
        select(CampaignRow).order_by(CampaignRow.id.desc()).limit(limit).offset(offset)
    ).all()
    ids = [row.id for row in campaigns]
    if not ids:
        return [], total
    contacts = _grouped(session, ids, ContactRow.state)
    waiting = _grouped(
        session,
        ids,
        func.coalesce(ContactRow.waiting_reason, "due"),
        ContactRow.state == ContactState.PENDING.value,
    )
    live = _attempt_counts(session, ids, AttemptRow.state.in_([s.value for s in ATTEMPT_LIVE]))
    recent = _attempt_counts(session, ids, AttemptRow.sending_at > now - RATE_WINDOW)
    summaries = []
    for row in campaigns:
        by_state = contacts.get(row.id, {})
        everyone = sum(by_state.values())
        pacing = row.spec.get("pacing") or {}
        summaries.append(
            CampaignSummary(
                id=row.id,
                name=row.name,
                state=row.state,
                paused_reason=row.paused_reason,
                next_run_at=row.next_run_at,
                updated_at=row.updated_at,
                total_contacts=everyone,
                finished_contacts=everyone - sum(by_state.get(s, 0) for s in _OPEN),
                contacts=by_state,
                waiting=waiting.get(row.id, {}),
                calls_per_second=round(recent.get(row.id, 0) / RATE_WINDOW.total_seconds(), 3),
                cps_limit=float(pacing.get("cps") or 0),
                live_calls=live.get(row.id, 0),
                max_live_calls=int(pacing.get("max_live_calls") or 0),
            )
        )
    return summaries, total


@dataclass(frozen=True)
class WaitingReason:
    """Pending contacts held for one reason, and when the first of them is due again."""

    reason: str
    contacts: int
    next_due_at: datetime | None


def waiting_reasons(session: Session, campaign_id: int) -> list[WaitingReason]:
    """Why the campaign's pending contacts wait, most first, each with its earliest due time (so
    "calling window closed" can say until when). `due` marks contacts with no reason written."""
    get_campaign_row(session, campaign_id)
    reason = func.coalesce(ContactRow.waiting_reason, "due")
    rows = session.execute(
        select(reason, func.count(), func.min(ContactRow.next_due_at))
        .where(
            ContactRow.campaign_id == campaign_id,
            ContactRow.state == ContactState.PENDING.value,
        )
        .group_by(reason)
        .order_by(func.count().desc(), reason)
    )
    return [WaitingReason(str(why), int(n), due) for why, n, due in rows]
