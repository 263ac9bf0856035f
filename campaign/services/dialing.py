"""One dial: claim the attempt, re-check every gate, take pacing, mark `sending`, POST, record.

No transaction is held across the HTTP call (style rule 5): each step commits on its own, so a
worker that dies anywhere leaves a state the sweeper or a re-delivered task can read:
`dialing` (nothing sent: may be retaken), `sending` without a sid (may have been placed: never
re-sent; a notification or the silent deadline settles it), `accepted` (placed).

`sending` is committed only once the pacing slot has been slept out, so a worker killed while it
waits leaves `dialing`, which the sweeper retakes; the send check and the POST follow at once.
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

from redis import RedisError
from sqlalchemy import case, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from campaign import log, metrics
from campaign.breaker import Breaker, GatewayBreaker, gateway_id
from campaign.db.engine import after_commit, transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow
from campaign.domain import gates, tokens
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.pacing import attempt_deadline, silent_deadline
from campaign.domain.reasons import Waiting
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import (
    AttemptEvent,
    AttemptState,
    CampaignEvent,
    CampaignState,
    attempt_transition,
    campaign_transition,
)
from campaign.errors import DialNotPlaced, DialOutcomeUnknown, DialRejected, GatewayError
from campaign.gateway.client import DialAccepted, DialRequest, SavgClient, tel_uri
from campaign.limits import Limiter
from campaign.receipts import Receipts
from campaign.services import gating
from campaign.services.leases import Leases, keys_for
from campaign.services.redial import close_attempt
from campaign.services.specs import load_spec
from campaign.settings import Settings

logger = logging.getLogger(__name__)


class DialResult(StrEnum):
    """How a dial task ended; only `sent` and `unknown` may have placed a call."""

    skipped = "skipped"  # not ours (duplicate delivery, stale claim, attempt gone)
    released = "released"  # a gate closed before sending: no attempt consumed
    held = "held"  # the gateway's breaker is open: back to pending until its next probe
    sent = "sent"
    unknown = "unknown"  # the POST went out, no answer read: never re-sent
    refused = "refused"  # the gateway refused; nothing placed


@dataclass(frozen=True)
class DialDeps:
    """What the dial path talks to; one per worker thread (the gateway client is per thread)."""

    settings: Settings
    sessions: sessionmaker[Session]
    limiter: Limiter
    breaker: GatewayBreaker
    receipts: Receipts
    gateway: SavgClient
    clock: Callable[[], datetime]
    rng: random.Random
    sleep: Callable[[float], None]

    @property
    def leases(self) -> Leases:
        return Leases(self.limiter, self.settings)


_CLAIMED = attempt_transition(AttemptState.QUEUED, AttemptEvent.CLAIM).state


def claim(sessions: sessionmaker[Session], attempt_id: int, now: datetime) -> str | None:
    """`queued → dialing` with a fresh claim token; None if someone else has it (duplicate)."""
    token = secrets.token_hex(16)
    with transaction(sessions) as session:
        claimed = session.execute(
            update(AttemptRow)
            .where(AttemptRow.id == attempt_id, AttemptRow.state == AttemptState.QUEUED.value)
            .values(state=_CLAIMED.value, claim_token=token, claimed_at=now)
            .returning(AttemptRow.id)
        ).scalar_one_or_none()
    return token if claimed is not None else None


def deadlines_for(
    spec: CampaignSpec, sent_at: datetime, margin_s: float
) -> tuple[datetime, datetime]:
    """(silent, full) deadlines of an attempt sent at `sent_at` (see `domain.pacing`)."""
    margin = timedelta(seconds=margin_s)
    ring = spec.ring_margin
    silent = silent_deadline(
        sent_at, ring_timeout=ring, amd_timers_ms=spec.gateway.timers, margin=margin
    )
    full = attempt_deadline(
        sent_at,
        ring_timeout=ring,
        max_call_duration=spec.pacing.max_call_duration,
        amd_timers_ms=spec.gateway.timers,
        margin=margin,
    )
    return silent, full


def _release(
    session: Session, attempt: AttemptRow, contact: ContactRow, verdict: gates.Defer | gates.Close
) -> None:
    """A gate closed between the claim and the POST: the attempt was never made."""
    attempt.state = attempt_transition(AttemptState(attempt.state), AttemptEvent.RELEASE).state
    attempt.decision = f"not dialed: {verdict.reason.value}"
    gating.hold(contact, verdict)
    if isinstance(verdict, gates.Defer):
        contact.attempts -= 1  # so its next attempt takes this one's number


@dataclass(frozen=True)
class Ready:
    """Every gate is open: what the POST needs."""

    spec: CampaignSpec
    attempt: AttemptRow
    contact: ContactRow
    gateway: str
    probe: bool


def check_gates(deps: DialDeps, attempt_id: int, claim_token: str) -> Ready | DialResult:
    """Re-read the attempt and release it if any gate closed since the claim (`domain.gates`),
    or the gateway's breaker holds; `skipped` when the attempt is not ours to dial."""
    now = deps.clock()
    with transaction(deps.sessions) as session:
        attempt = session.get(AttemptRow, attempt_id, with_for_update=True)
        if (
            attempt is None
            or attempt.state != AttemptState.DIALING
            or attempt.claim_token != claim_token
        ):
            return DialResult.skipped
        log.bind(campaign_id=attempt.campaign_id)
        contact = session.get_one(ContactRow, attempt.contact_id, with_for_update=True)
        campaign = session.get_one(CampaignRow, attempt.campaign_id)
        spec = load_spec(campaign.spec)
        gateway = gateway_id(deps.settings.savg_base_url, spec.gateway.trunk)
        state = CampaignState(campaign.state)
        verdict = gating.check(session, spec, state, [contact], now)[contact.id]
        held = isinstance(verdict, gates.Open)
        if isinstance(verdict, gates.Open):
            # Last, so a contact another gate releases never takes the breaker's one probe.
            permit = deps.breaker.permit(gateway, str(attempt_id))
            if permit.hold is None:
                return Ready(spec, attempt, contact, gateway, permit.probe)
            verdict = gates.Defer(permit.hold.until or now, Waiting.GATEWAY_UNAVAILABLE)
        _release(session, attempt, contact, verdict)
        keys = keys_for(deps.limiter, deps.settings, campaign.id, spec)
        after_commit(session, lambda: deps.limiter.release(str(attempt_id), keys.caps))
    return DialResult.held if held else DialResult.released


def _mark_sending(
    deps: DialDeps,
    attempt_id: int,
    claim_token: str,
    sent_at: datetime,
    deadlines: tuple[datetime, datetime],
) -> bool:
    silent, full = deadlines
    with transaction(deps.sessions) as session:
        marked = session.execute(
            update(AttemptRow)
            .where(
                AttemptRow.id == attempt_id,
                AttemptRow.state == AttemptState.DIALING.value,
                AttemptRow.claim_token == claim_token,
            )
            .values(
                state=attempt_transition(AttemptState.DIALING, AttemptEvent.SEND).state.value,
                sending_at=sent_at,
                silent_deadline_at=silent,
                deadline_at=full,
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
    deadline = deadlines_for(spec, deps.clock(), deps.settings.deadline_margin_s)[1]
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
    # The lease lasts until the full deadline of a call sent at the latest slot we accept.
    latest = deps.clock() + timedelta(seconds=deps.settings.pacing_max_wait_s)
    lease_until = deadlines_for(spec, latest, deps.settings.deadline_margin_s)[1]
    wait_s = deps.limiter.acquire(
        str(attempt_id), keys.rates, keys.caps, lease_until, deps.settings.pacing_max_wait_s
    )
    slot_at = time.monotonic() + wait_s
    request = build_request(deps, spec, attempt, contact)  # CPU work before the slot, not after
    deps.sleep(max(0.0, slot_at - time.monotonic()))
    # A crash up to here leaves `dialing` (a spent slot, and a lease the retaken dial reuses).
    # `sending` is committed at the slot, before the send check rather than after it: a commit's
    # latency on a loaded host (tens of ms) between the check and the POST would bunch calls at
    # the gateway past the pacing slack. A crash in the milliseconds from here to the POST
    # leaves `sending` with nothing sent, which the silent deadline settles as not placed.
    sent_at = deps.clock()
    deadlines = deadlines_for(spec, sent_at, deps.settings.deadline_margin_s)
    if not _mark_sending(deps, attempt_id, claim_token, sent_at, deadlines):
        deps.limiter.release(str(attempt_id), keys.caps)
        return DialResult.skipped
    while (wait_s := deps.limiter.confirm_send(str(attempt_id), keys.rates)) > 0:
        deps.sleep(wait_s)  # woke up late and bunched with the next slot: hold this one back
    try:
        accepted = deps.gateway.dial(request)
    except DialOutcomeUnknown as exc:
        deps.breaker.failure(checked.gateway, str(attempt_id))
        _record_unknown(deps, attempt_id, exc)
        return DialResult.unknown
    except (DialNotPlaced, DialRejected) as exc:
        _record_refusal(deps, attempt_id, checked, exc)
        return DialResult.refused
    _record_accept(deps, attempt_id, accepted)
    metrics.DIALOUT_LATENCY.observe(accepted.latency_ms / 1000)
    deps.breaker.success(checked.gateway, attempt.campaign_id)
    return DialResult.sent


_ACCEPTED = attempt_transition(AttemptState.SENDING, AttemptEvent.ACCEPT).state
# How long a worker holding a sid keeps retrying its commit before leaving it to the receipt.
ACCEPT_RETRY_S = 5.0


def _write_accept(deps: DialDeps, attempt_id: int, accepted: DialAccepted) -> None:
    """One statement: the sid, and `sending → accepted` unless a notification already moved the
    attempt on (it only moves from `sending`; later states keep theirs)."""
    with transaction(deps.sessions) as session:
        session.execute(
            update(AttemptRow)
            .where(AttemptRow.id == attempt_id)
            .values(
                sid=accepted.sid,
                call_id=accepted.call_id,
                accepted_at=deps.clock(),
                dial_latency_ms=accepted.latency_ms,
                state=case(
                    (AttemptRow.state == AttemptState.SENDING.value, _ACCEPTED.value),
                    else_=AttemptRow.state,
                ),
            )
        )


def _record_accept(deps: DialDeps, attempt_id: int, accepted: DialAccepted) -> None:
    """Record the sid of a placed call; if PostgreSQL refuses, keep a receipt in Redis (the sweeper
    reads it before calling a silent attempt unplaced) and retry the commit for a while."""
    try:
        _write_accept(deps, attempt_id, accepted)
        return
    except DBAPIError as exc:
        logger.error(
            "attempt %s: sid %s not recorded (%s); keeping a receipt", attempt_id, accepted.sid, exc
        )
    try:
        deps.receipts.keep(attempt_id, accepted.sid, accepted.call_id)
    except RedisError as exc:  # both stores down: the notifications are the call's only trace
        logger.error("attempt %s: no receipt for sid %s either: %s", attempt_id, accepted.sid, exc)
    retrying = Retrying(
        retry=retry_if_exception_type(DBAPIError),
        stop=stop_after_delay(ACCEPT_RETRY_S),
        wait=wait_exponential(multiplier=0.2, max=1.0),
        reraise=True,
    )
    try:
        retrying(_write_accept, deps, attempt_id, accepted)
    except DBAPIError:
        logger.error("attempt %s: sid %s left to its receipt", attempt_id, accepted.sid)


def _record_unknown(deps: DialDeps, attempt_id: int, exc: GatewayError) -> None:
    with transaction(deps.sessions) as session:
        row = session.get_one(AttemptRow, attempt_id)
        row.error = f"outcome unknown: {exc}"[:500]
        row.sip_code = exc.status_code
    logger.warning(
        "attempt %s: dial-out outcome unknown (%s); waiting for a notification", attempt_id, exc
    )


def _record_refusal(deps: DialDeps, attempt_id: int, ready: Ready, exc: GatewayError) -> None:
    """Nothing was placed: close the attempt as `gateway_error` and let the policy redial.

    A sick gateway (DialNotPlaced: connection failures, 429/503 past the in-place retries) counts
    toward its breaker, and once that is open the refusal is not charged to the contact; a 4xx is
    a wrong request: refused credentials pause the campaign at once, a long streak of other
    refusals pauses it too.
    """
    campaign_id = ready.attempt.campaign_id
    why: str | None = None
    held_by: Breaker | None = None
    if isinstance(exc, DialNotPlaced):
        breaker = deps.breaker.failure(ready.gateway, str(attempt_id))
        held_by = breaker if breaker.open else None
    elif exc.status_code in (401, 403):
        why = "gateway refused our credentials"
    else:
        streak = deps.breaker.rejected(campaign_id)
        if streak >= deps.settings.gateway_failures_before_pause:
            why = f"gateway refused {streak} dial-outs in a row"
    with transaction(deps.sessions) as session:
        row = session.get_one(AttemptRow, attempt_id, with_for_update=True)
        row.sip_code = exc.status_code
        row.error = str(exc)[:500]
        close_attempt(
            session,
            row,
            event=AttemptEvent.ERROR,
            outcome=OutcomeClass.GATEWAY_ERROR,
            spec=ready.spec,
            now=deps.clock(),
            rng=deps.rng,
            leases=deps.leases,
            held_by=held_by,
        )
    if why is not None:
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
        logger.error("campaign %s paused: %s", campaign_id, reason)
