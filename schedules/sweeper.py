"""The sweeper: what a lost message, a dead worker, a lost notification or a wiped Redis leaves.

- `queued` too long: the broker message was lost → send it again (the claim makes a duplicate
  harmless); a lost message delays a call, never drops it.
- `dialing` too long: the worker died while waiting for pacing (nothing was sent) → back to
  `queued` with a new message; the old claim token no longer matches, so a slow survivor stops.
- sent but silent past its silent deadline (ring + AMD timers + margin): never placed (no sid)
  → a refused dial-out for the policy; placed (sid) → `lost`, its slot freed at once.
- live past its full deadline: no final notification came (jambonz #1478) → `lost`, slot freed,
  the policy decides (never an immediate redial: the call may still be live).
- leases re-added from PostgreSQL, so a wiped Redis cannot let live calls exceed a cap.
- unprocessed inbox rows applied here (needs only PostgreSQL: a final stored while the broker was
  down is never outrun by a deadline); cancelled campaigns close their pending contacts;
  running campaigns with nothing left to call complete; a deliverer is woken while outbox events
  are due.

The attempt repairs (the first four) are `sweep_attempts`; this module runs the whole sweep and
repairs what is not one attempt: Redis, the inbox, campaigns, the event outbox.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update

from campaign.db.engine import transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.domain.reasons import Closed
from campaign.domain.states import (
    ATTEMPT_LIVE,
    CampaignEvent,
    CampaignState,
    ContactEvent,
    ContactState,
    RunEvent,
    campaign_transition,
    contact_transition,
)
from campaign.runtime import Runtime
from campaign.services import account, event_outbox
from campaign.services.event_delivery import has_due
from campaign.services.leases import keys_for
from campaign.services.lifecycle import finish_run
from campaign.services.notifications import drain_inbox
from campaign.services.specs import load_spec
from schedules import sweep_attempts as attempts
from schedules.sweep_attempts import BATCH

_LIVE = tuple(s.value for s in ATTEMPT_LIVE)
_CANCELLED = contact_transition(ContactState.PENDING, ContactEvent.CANCEL).state


@dataclass
class SweepResult:
    """Counts of what the sweep repaired."""

    resent: int = 0
    requeued: int = 0
    lost: int = 0
    silent: int = 0
    leases_restored: int = 0
    notifications_applied: int = 0
    completed: int = 0
    cancelled_contacts: int = 0
    events_due: bool = False


def _restore_limiter(runtime: Runtime) -> int:
    """After Redis lost its data (no sentinel), re-add every live attempt's leases.

    Done only then: re-adding on every sweep would race with finals releasing leases and leave
    phantom leases until their deadlines.
    """
    if runtime.limiter.ready():
        return 0
    with runtime.sessions() as session:
        live = session.execute(
            select(AttemptRow.id, AttemptRow.deadline_at, CampaignRow.id, CampaignRow.spec)
            .join(CampaignRow, CampaignRow.id == AttemptRow.campaign_id)
            .where(AttemptRow.state.in_(_LIVE), AttemptRow.deadline_at.is_not(None))
        ).all()
        running = session.execute(
            select(CampaignRow.id, CampaignRow.spec).where(
                CampaignRow.state == CampaignState.RUNNING.value
            )
        ).all()
        policy = account.current(session)
    leases = []
    for attempt_id, deadline, campaign_id, stored in live:
        keys = keys_for(runtime.limiter, runtime.settings, campaign_id, load_spec(stored), policy)
        leases += [(cap.key, str(attempt_id), deadline) for cap in keys.caps]
    rate_keys = {
        rate.key
        for campaign_id, stored in running
        for rate in keys_for(
            runtime.limiter, runtime.settings, campaign_id, load_spec(stored), policy
        ).rates
    }
    hold_s = runtime.settings.pacing_max_wait_s
    return runtime.limiter.restore(leases, sorted(rate_keys), hold_s)


def _apply_stale_inbox(runtime: Runtime, now: datetime, rng: random.Random) -> int:
    """Apply, here, inbox rows no consumer applied in time (its wake-up was lost, or Redis was
    down when the receiver sent it). The sweeper needs only PostgreSQL for this, so a final
    stored during a broker outage is applied before any deadline could call its attempt lost."""
    inbox_stale = timedelta(seconds=runtime.settings.sweep_inbox_stale_s)
    applied = drain_inbox(
        runtime.sessions,
        leases=runtime.leases,
        now=lambda: now,
        rng=rng,
        limit=BATCH,
        received_before=now - inbox_stale,
    )
    return len(applied)


def _close_campaigns(runtime: Runtime, now: datetime) -> tuple[int, int]:
    completed = cancelled = 0
    open_states = (ContactState.PENDING.value, ContactState.IN_FLIGHT.value)
    with transaction(runtime.sessions) as session:
        closed = session.execute(
            update(ContactRow)
            .where(
                ContactRow.state == ContactState.PENDING.value,
                ContactRow.campaign_id.in_(
                    select(CampaignRow.id).where(CampaignRow.state == CampaignState.CANCELLED.value)
                ),
            )
            .values(state=_CANCELLED.value, closed_reason=Closed.CAMPAIGN_CANCELLED.value)
            .returning(ContactRow.campaign_id, *event_outbox.CLOSED_COLUMNS)
        ).all()
        cancelled = len(closed)
        for campaign_id in {row.campaign_id for row in closed}:
            stored = session.get_one(CampaignRow, campaign_id).spec
            of_campaign = [row for row in closed if row.campaign_id == campaign_id]
            event_outbox.contacts_closed(
                session, campaign_id, load_spec(stored).events, of_campaign
            )
        done = session.scalars(
            select(CampaignRow)
            .where(
                CampaignRow.state == CampaignState.RUNNING.value,
                ~exists().where(
                    ContactRow.campaign_id == CampaignRow.id, ContactRow.state.in_(open_states)
                ),
            )
            .with_for_update(skip_locked=True)
        ).all()
        for campaign in done:
            campaign.state = campaign_transition(
                CampaignState(campaign.state), CampaignEvent.COMPLETE
            ).state
            finish_run(session, campaign.current_run_id, RunEvent.COMPLETE, now)
            events = load_spec(campaign.spec).events
            event_outbox.campaign_state(session, campaign, events, "completed")
            completed += 1
    return completed, cancelled


def sweep(runtime: Runtime, now: datetime, rng: random.Random) -> SweepResult:
    """One sweep; every step is idempotent and safe with several dispatchers sweeping at once."""
    result = SweepResult()
    result.resent, result.requeued = attempts.resend_stale(runtime, now)
    # Finals waiting in the inbox first: only then may a deadline call an attempt lost.
    result.notifications_applied = _apply_stale_inbox(runtime, now, rng)
    result.lost = attempts.expire_overdue(runtime, now, rng)
    result.silent = attempts.settle_silent(runtime, now, rng)
    result.leases_restored = _restore_limiter(runtime)
    result.completed, result.cancelled_contacts = _close_campaigns(runtime, now)
    result.events_due = _kick_events(runtime, now)
    return result


def _kick_events(runtime: Runtime, now: datetime) -> bool:
    """Wake a deliverer while events are due: delivery never depends on a message surviving."""
    with runtime.sessions() as session:
        due = has_due(session, now)
    if due:
        runtime.wake_events()
    return due
