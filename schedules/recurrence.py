"""Recurring campaigns: a new run at each cron occurrence, read in the schedule's own time zone.

When is `campaign.domain.recurrence.next_run` (pure, exact across DST).

`start_due_runs` is called by every dispatcher tick (any number of replicas: campaigns are
claimed with `SKIP LOCKED`, and `next_run_at` moves on in the same transaction). A run whose
contacts are still open when the next occurrence comes is left alone, and the new occurrence is
recorded as a `skipped` run with a note instead of being stacked on top.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import CampaignRow, ContactRow, RunRow
from campaign.domain.reasons import Waiting
from campaign.domain.recurrence import next_run
from campaign.domain.states import (
    CampaignEvent,
    CampaignState,
    ContactState,
    RunEvent,
    RunState,
    campaign_transition,
)
from campaign.services.lifecycle import (
    finish_run,
    open_run,
    rearm_contacts,
    scrub_dnc,
)
from campaign.services.specs import load_spec

_RECURRING_STATES = (
    CampaignState.SCHEDULED.value,
    CampaignState.RUNNING.value,
    CampaignState.PAUSED.value,
    CampaignState.COMPLETED.value,
)
_OPEN_CONTACTS = (ContactState.PENDING.value, ContactState.IN_FLIGHT.value)


def _still_going(session: Session, campaign: CampaignRow) -> str | None:
    """Why the current run is not over yet, or None."""
    if campaign.state == CampaignState.PAUSED.value:
        return Waiting.CAMPAIGN_PAUSED.value
    run = session.get(RunRow, campaign.current_run_id) if campaign.current_run_id else None
    if run is None or run.state != RunState.RUNNING.value:
        return None
    open_contacts = session.scalar(
        select(func.count())
        .select_from(ContactRow)
        .where(ContactRow.campaign_id == campaign.id, ContactRow.state.in_(_OPEN_CONTACTS))
    )
    if open_contacts:
        return f"run {run.number} still going ({open_contacts} contacts open)"
    return None


def _occurrence(session: Session, campaign: CampaignRow, due: datetime, now: datetime) -> str:
    busy = _still_going(session, campaign)
    if busy is not None:
        run = open_run(
            session, campaign, now=now, state=RunState.SKIPPED, scheduled_for=due, note=busy
        )
        return f"campaign {campaign.id}: run {run.number} skipped: {busy}"
    finish_run(session, campaign.current_run_id, RunEvent.COMPLETE, now)
    state = CampaignState(campaign.state)
    campaign.state = campaign_transition(state, CampaignEvent.START).state.value
    rearmed = rearm_contacts(session, campaign.id, now)
    suppressed = scrub_dnc(session, campaign.id, now)
    run = open_run(session, campaign, now=now, scheduled_for=due)
    return (
        f"campaign {campaign.id}: run {run.number} started "
        f"({rearmed} contacts re-armed, {suppressed} suppressed by do-not-call)"
    )


def start_due_runs(session: Session, now: datetime) -> list[str]:
    """Start (or skip) the runs of recurring campaigns due by `now`; one line per decision.

    Never commits. After several missed occurrences (dispatcher down), only one run starts and
    `next_run_at` jumps to the first occurrence after `now`.
    """
    campaigns = session.scalars(
        select(CampaignRow)
        .where(CampaignRow.next_run_at <= now, CampaignRow.state.in_(_RECURRING_STATES))
        .order_by(CampaignRow.next_run_at)
        .with_for_update(skip_locked=True, key_share=True)  # see get_campaign_row
    ).all()
    done: list[str] = []
    for campaign in campaigns:
        due = campaign.next_run_at
        schedule = load_spec(campaign.spec).schedule
        if due is None or schedule is None:
            campaign.next_run_at = None
            continue
        campaign.next_run_at = next_run(schedule.cron, schedule.timezone, now)
        done.append(_occurrence(session, campaign, due, now))
    session.flush()
    return done
