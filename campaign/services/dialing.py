"""One dial: claim the attempt, re-check every gate, take pacing, mark `sending`, POST, record.

No transaction is held across the HTTP call (style rule 5): each step commits on its own, so a
worker that dies anywhere leaves a state the sweeper or a re-delivered task can read:
`dialing` (nothing sent: may be retaken), `sending` without a sid (may have been placed: never
re-sent; the notification or the deadline settles it), `accepted` (placed).
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from campaign import metrics
from campaign.db.engine import after_commit, transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.domain import tokens
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.pacing import attempt_deadline
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import (
    AttemptEvent,
    AttemptState,
    CampaignEvent,
    CampaignState,
    ContactEvent,
    ContactState,
    attempt_transition,
    campaign_transition,
    contact_transition,
)
from campaign.errors import DialNotPlaced, DialOutcomeUnknown, DialRejected, GatewayError
from campaign.gateway.client import DialRequest, SavgClient, tel_uri
from campaign.limits import Limiter, PacingKeys
from campaign.services.dnc import blocked_numbers
from campaign.services.leases import keys_for
from campaign.services.redial import histories, ring_margin, settle_contact
from campaign.services.specs import load_spec
from campaign.settings import Settings

log = logging.getLogger(__name__)


class DialResult(StrEnum):
    """How a dial task ended; only `sent` and `unknown` may have placed a call."""

    skipped = "skipped"  # not ours (duplicate delivery, stale claim, attempt gone)
    released = "released"  # a gate closed before sending: no attempt consumed
    sent = "sent"
    unknown = "unknown"  # the POST went out, no answer read: never re-sent
    refused = "refused"  # the gateway refused; nothing placed


@dataclass(frozen=True)
class DialDeps:
    """What the dial path talks to; one per worker thread (the gateway client is per thread)."""

    settings: Settings
    sessions: sessionmaker[Session]
    limiter: Limiter
    gateway: SavgClient
    clock: Callable[[], datetime]
    rng: random.Random
    sleep: Callable[[float], None]


def claim(sessions: sessionmaker[Session], attempt_id: int, now: datetime) -> str | None:
    """`queued → dialing` with a fresh claim token; None if someone else has it (duplicate)."""
    token = secrets.token_hex(16)
    with transaction(sessions) as session:
        claimed = session.execute(
            update(AttemptRow)
            .where(AttemptRow.id == attempt_id, AttemptRow.state == AttemptState.QUEUED.value)
            .values(state=AttemptState.DIALING.value, claim_token=token, claimed_at=now)
            .returning(AttemptRow.id)
        ).scalar_one_or_none()
    return token if claimed is not None else None


def deadline_for(spec: CampaignSpec, sent_at: datetime, margin_s: float) -> datetime:
    """When this attempt is declared `lost` if no final notification came."""
    return attempt_deadline(
        sent_at,
        ring_timeout=ring_margin(spec),
        max_call_duration=spec.pacing.max_call_duration,
        amd_timers_ms=spec.gateway.timers,
        margin=timedelta(seconds=margin_s),
    )


def _closed_gate(
    session: Session, campaign: CampaignRow, contact: ContactRow, spec: CampaignSpec, now: datetime
) -> tuple[ContactEvent, datetime | None, str] | None:
    """The first closed gate as (contact event, next due time, reason); None if all are open."""
    state = CampaignState(campaign.state)
    if state is CampaignState.CANCELLED:
        return ContactEvent.CANCEL, None, "campaign cancelled"
    if state is not CampaignState.RUNNING:
        return ContactEvent.RELEASE, now, f"campaign {state.value}"
    if blocked_numbers(session, [contact.phone], now):
        return ContactEvent.SUPPRESS, None, "on the do-not-call list"
    zones = spec.window.zones_for(contact.zones)
    margin = ring_margin(spec)
    if not spec.window.is_open(now, zones, margin):
        return ContactEvent.RELEASE, spec.window.next_open(now, zones, margin), "window"
    retry = spec.retry
    if retry.per_day or retry.per_week or retry.min_gap:
        earliest = retry.earliest_allowed(
            histories(session, [contact.id])[contact.id], now, zones[0]
        )
        if earliest > now:
            return ContactEvent.RELEASE, spec.window.next_open(earliest, zones, margin), "frequency"
    return None


def _release(
    session: Session,
    attempt: AttemptRow,
    contact: ContactRow,
    gate: tuple[ContactEvent, datetime | None, str],
) -> None:
    event, due, reason = gate
    attempt.state = attempt_transition(AttemptState(attempt.state), AttemptEvent.RELEASE).state
    attempt.decision = f"not dialed: {reason}"
    if event is ContactEvent.RELEASE and due is None:
        event, reason = ContactEvent.EXHAUST, "the calling window never opens again"
    contact.state = contact_transition(ContactState(contact.state), event).state
    if contact.state == ContactState.PENDING:
        contact.next_due_at = due
        contact.waiting_reason = reason
        contact.attempts -= 1  # the attempt was never made
    else:
        contact.closed_reason = reason


@dataclass(frozen=True)
class Ready:
    """Every gate is open: what the POST needs."""

    spec: CampaignSpec
    attempt: AttemptRow
    contact: ContactRow


def check_gates(deps: DialDeps, attempt_id: int, claim_token: str) -> Ready | DialResult:
    """Re-read the attempt and release it if any gate closed (campaign state, do-not-call, window,
    frequency caps); `skipped` when the attempt is not ours to dial."""
    now = deps.clock()
    with transaction(deps.sessions) as session:
        attempt = session.get(AttemptRow, attempt_id, with_for_update=True)
        if (
            attempt is None
            or attempt.state != AttemptState.DIALING
            or attempt.claim_token != claim_token
        ):
            return DialResult.skipped
        contact = session.get_one(ContactRow, attempt.contact_id, with_for_update=True)
        campaign = session.get_one(CampaignRow, attempt.campaign_id)
        spec = load_spec(campaign.spec)
        gate = _closed_gate(session, campaign, contact, spec, now)
        if gate is None:
            return Ready(spec, attempt, contact)
        _release(session, attempt, contact, gate)
        keys = keys_for(deps.limiter, deps.settings, campaign.id, spec)
        after_commit(session, lambda: deps.limiter.release(str(attempt_id), keys.caps))
    return DialResult.released


def _mark_sending(
    deps: DialDeps, attempt_id: int, claim_token: str, sent_at: datetime, deadline: datetime
) -> bool:
    with transaction(deps.sessions) as session:
        marked = session.execute(
            update(AttemptRow)
            .where(
                AttemptRow.id == attempt_id,
                AttemptRow.state == AttemptState.DIALING.value,
                AttemptRow.claim_token == claim_token,
            )
            .values(
                state=AttemptState.SENDING.value,
                sending_at=sent_at,
                deadline_at=deadline,
                dial_tries=AttemptRow.dial_tries + 1,
            )
            .returning(AttemptRow.id)
        ).scalar_one_or_none()
    return marked is not None


def build_request(
    deps: DialDeps, spec: CampaignSpec, attempt: AttemptRow, contact: ContactRow
) -> DialRequest:
    """The dial-out body: the spec's gateway block, the contact's metadata over the spec's."""
    gw = spec.gateway
    deadline = deadline_for(spec, deps.clock(), deps.settings.deadline_margin_s)
    secret = deps.settings.notify_secret.get_secret_value()
    token = tokens.sign(attempt.id, secret, expires_at=deadline + tokens.GRACE)
    return DialRequest(
        bot=gw.bot,
        target=tel_uri(contact.phone),
        caller=gw.caller,
        notifyurl=f"{deps.settings.notify_base_url}/notify/{token}",
        trunk=gw.trunk,
        metadata={**gw.metadata, **contact.metadata_},
        timers=dict(gw.timers),
        machine_detection=gw.machine_detection,
        threshold_word_count=gw.threshold_word_count,
        timeout_in_ms=gw.timeout_in_ms,
        notify_headers=gw.notify_headers,
        amd_events=gw.amd_events_subscription,
    )


def dial(deps: DialDeps, attempt_id: int, claim_token: str) -> DialResult:
    """Dial a claimed attempt. Raises PacingExhausted (nothing consumed) when it must wait."""
    checked = check_gates(deps, attempt_id, claim_token)
    if isinstance(checked, DialResult):
        return checked
    spec, attempt, contact = checked.spec, checked.attempt, checked.contact
    keys = keys_for(deps.limiter, deps.settings, attempt.campaign_id, spec)
    now = deps.clock()
    deadline = deadline_for(spec, now, deps.settings.deadline_margin_s)
    wait_s = deps.limiter.acquire(
        str(attempt_id), keys.rates, keys.caps, deadline, deps.settings.pacing_max_wait_s
    )
    slot_at = time.monotonic() + wait_s
    if not _mark_sending(deps, attempt_id, claim_token, now + timedelta(seconds=wait_s), deadline):
        deps.limiter.release(str(attempt_id), keys.caps)
        return DialResult.skipped
    request = build_request(deps, spec, attempt, contact)
    # Sleep out the rest of our reserved slot after the commit, so the commit's own latency does
    # not shift the POST: slots are spaced exactly one period apart however many workers dial.
    deps.sleep(max(0.0, slot_at - time.monotonic()))
    while (wait_s := deps.limiter.confirm_send(str(attempt_id), keys.rates)) > 0:
        deps.sleep(wait_s)  # woke up late and bunched with the next slot: hold this one back
    try:
        accepted = deps.gateway.dial(request)
    except DialOutcomeUnknown as exc:
        _record_unknown(deps, attempt_id, exc)
        return DialResult.unknown
    except (DialNotPlaced, DialRejected) as exc:
        _record_refusal(deps, attempt_id, spec, keys, exc)
        return DialResult.refused
    with transaction(deps.sessions) as session:
        row = session.get_one(AttemptRow, attempt_id, with_for_update=True)
        row.state = attempt_transition(AttemptState(row.state), AttemptEvent.ACCEPT).state
        row.sid, row.call_id = accepted.sid, accepted.call_id
        row.accepted_at = deps.clock()
        row.dial_latency_ms = accepted.latency_ms
    metrics.DIALOUT_LATENCY.observe(accepted.latency_ms / 1000)
    deps.limiter.gateway_streak(attempt.campaign_id, failed=False)
    return DialResult.sent


def _record_unknown(deps: DialDeps, attempt_id: int, exc: GatewayError) -> None:
    with transaction(deps.sessions) as session:
        row = session.get_one(AttemptRow, attempt_id)
        row.error = f"outcome unknown: {exc}"[:500]
    log.warning(
        "attempt %s: dial-out outcome unknown (%s); waiting for a notification", attempt_id, exc
    )


def _record_refusal(
    deps: DialDeps, attempt_id: int, spec: CampaignSpec, keys: PacingKeys, exc: GatewayError
) -> None:
    """Nothing was placed: close the attempt as `gateway_error`, let the policy redial, and pause a
    campaign whose gateway keeps refusing (or refuses our credentials)."""
    now = deps.clock()
    credentials = isinstance(exc, DialRejected) and exc.status_code in (401, 403)
    with transaction(deps.sessions) as session:
        row = session.get_one(AttemptRow, attempt_id, with_for_update=True)
        contact = session.get_one(ContactRow, row.contact_id, with_for_update=True)
        row.state = attempt_transition(AttemptState(row.state), AttemptEvent.ERROR).state
        row.outcome = OutcomeClass.GATEWAY_ERROR.value
        row.counted = spec.retry.counts(OutcomeClass.GATEWAY_ERROR)
        row.ended_at = now
        row.sip_code = exc.status_code
        row.error = str(exc)[:500]
        settle_contact(
            session,
            attempt=row,
            contact=contact,
            spec=spec,
            outcome=OutcomeClass.GATEWAY_ERROR,
            now=now,
            rng=deps.rng,
        )
        campaign_id = row.campaign_id
        after_commit(session, lambda: deps.limiter.release(str(attempt_id), keys.caps))
    streak = deps.limiter.gateway_streak(campaign_id, failed=True)
    if credentials or streak >= deps.settings.gateway_failures_before_pause:
        why = (
            "gateway refused our credentials"
            if credentials
            else f"gateway failed {streak} dial-outs in a row"
        )
        # Its own transaction, holding only the campaign row: never contact-then-campaign locks.
        with transaction(deps.sessions) as session:
            pause_for_gateway(session, campaign_id, f"{why}: {exc}")


def pause_for_gateway(session: Session, campaign_id: int, reason: str) -> None:
    """Pause a running campaign on its own, with a reason `status` shows."""
    # FOR NO KEY UPDATE, as the lifecycle verbs lock campaigns: attempt inserts (FK key-share
    # locks) are not blocked by it.
    campaign = session.get_one(CampaignRow, campaign_id, with_for_update={"key_share": True})
    state = CampaignState(campaign.state)
    if state is CampaignState.RUNNING:
        campaign.state = campaign_transition(state, CampaignEvent.PAUSE).state
        campaign.paused_reason = reason[:500]
        log.error("campaign %s paused: %s", campaign_id, reason)
