"""One dial: re-check every gate on the claim's facts, take pacing, mark `sending`, POST, record.

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
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property

from sqlalchemy.orm import Session, sessionmaker

from campaign import log, metrics
from campaign.breaker import Breaker, BreakerState, GatewayBreaker, gateway_id
from campaign.caller_counts import CallerCounts
from campaign.domain import gates, tokens
from campaign.domain.pacing import TICKET_S, attempt_deadline, silent_deadline
from campaign.domain.reasons import Waiting
from campaign.domain.retry_policy import PastAttempt
from campaign.domain.spec import CampaignSpec
from campaign.errors import DialNotPlaced, DialOutcomeUnknown, DialRejected, PacingExhausted
from campaign.gateway.client import DialRequest, SavgClient, tel_uri
from campaign.limits import Limiter, PacingKeys
from campaign.receipts import Receipts
from campaign.services import account, caller_choice
from campaign.services import dial_records as records
from campaign.services.claims import Claimed
from campaign.services.leases import Leases, keys_for
from campaign.services.redial import histories
from campaign.services.specs import spec_for
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

    @cached_property
    def recorder(self) -> records.Recorder:
        leases = Leases(self.limiter, self.settings)
        return records.Recorder(
            self.settings, self.sessions, leases, self.breaker, self.receipts, self.clock, self.rng
        )

    @cached_property
    def callers(self) -> CallerCounts:
        return CallerCounts(self.limiter.client, self.settings.queue_prefix)


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


METADATA_KEY = "campaign"
"""The key of the dial-out's `metadata` under which the bot finds its attempt and disposition URL
(it replaces a contact column of that name)."""


def build_request(deps: DialDeps, spec: CampaignSpec, claim: Claimed, caller: str) -> DialRequest:
    """The dial-out body: the spec's gateway block with the chosen `caller`, the contact's
    metadata over the spec's, and under `METADATA_KEY` what the bot needs to post a disposition
    (one more HMAC, no query)."""
    gw = spec.gateway
    deadline = deadlines_for(spec, deps.clock(), deps.settings.deadline_margin_s)[1]
    secret = deps.settings.notify_secret.get_secret_value()
    token = tokens.sign(claim.attempt_id, secret, expires_at=deadline + tokens.GRACE)
    disposition = tokens.sign(
        claim.attempt_id,
        secret,
        expires_at=deadline + tokens.DISPOSITION_GRACE,
        purpose=tokens.Purpose.DISPOSITION,
    )
    base = deps.settings.notify_base_url
    ours = {
        "campaign_id": claim.campaign_id,
        "attempt_id": claim.attempt_id,
        "external_id": claim.external_id,
        "disposition_url": f"{base}/disposition/{disposition}",
    }
    return DialRequest(
        bot=gw.bot,
        target=tel_uri(claim.phone),
        caller=caller,
        notifyurl=f"{base}/notify/{token}",
        trunk=gw.trunk,
        metadata={**gw.metadata, **claim.metadata, METADATA_KEY: ours},
        timers=dict(gw.timers),
        machine_detection=gw.machine_detection,
        threshold_word_count=gw.threshold_word_count,
        timeout_in_ms=gw.timeout_in_ms,
        notify_headers=gw.notify_headers,
        amd_events=gw.amd_events_subscription,
    )


def _history(deps: DialDeps, spec: CampaignSpec, claim: Claimed) -> list[PastAttempt]:
    if not spec.retry.frequency_capped:
        return []
    with deps.sessions() as session:
        return histories(session, [claim.contact_id])[claim.contact_id]


def dial(deps: DialDeps, claim: Claimed, ticket_at_ms: float | None = None) -> DialResult:
    """Dial a claimed attempt. Raises PacingExhausted when it must wait: nothing consumed, or a
    ticket for its own rate slot, which the retried dial passes back as `ticket_at_ms`."""
    log.bind(campaign_id=claim.campaign_id)
    now = deps.clock()
    with deps.sessions() as session:  # it connects only for a version not seen yet
        spec = spec_for(session, claim.campaign_id, claim.spec_digest)
        policy = account.policy_for(session, claim.account_digest)
    keys = keys_for(deps.limiter, deps.settings, claim.campaign_id, spec, policy)
    verdict = gates.decide(
        spec,
        campaign=claim.campaign_state,
        on_dnc=claim.on_dnc,
        contact_zones=claim.zones,
        history=_history(deps, spec, claim),
        now=now,
        account=policy,
        number=claim.number,
    )
    gateway = gateway_id(deps.settings.savg_base_url, spec.gateway.trunk)
    if not isinstance(verdict, gates.Open):
        released = records.release(deps.recorder, claim, verdict, keys)
        return DialResult.released if released else DialResult.skipped
    chosen = caller_choice.choose(deps.callers, deps.sessions, spec, claim, now)
    if isinstance(chosen, gates.Defer):  # every caller of the pool made its calls today
        released = records.release(deps.recorder, claim, chosen, keys)
        return DialResult.released if released else DialResult.skipped
    try:
        return _send(deps, spec, claim, keys, gateway, chosen, now, ticket_at_ms)
    except PacingExhausted:
        caller_choice.give_back(deps.callers, claim, chosen)
        raise


def _send(
    deps: DialDeps,
    spec: CampaignSpec,
    claim: Claimed,
    keys: PacingKeys,
    gateway: str,
    chosen: caller_choice.Chosen,
    now: datetime,
    ticket_at_ms: float | None,
) -> DialResult:
    """Breaker, pacing slot, `sending` (with the caller), POST; the caller's place of the day is
    given back on every way out that sends nothing."""
    # Last, so a contact another gate releases never takes the breaker's one probe.
    permit = deps.breaker.permit(gateway, str(claim.attempt_id))
    if permit.hold is not None:
        caller_choice.give_back(deps.callers, claim, chosen)
        held = gates.Defer(permit.hold.until or now, Waiting.GATEWAY_UNAVAILABLE)
        released = records.release(deps.recorder, claim, held, keys)
        return DialResult.held if released else DialResult.skipped
    # The lease lasts until the full deadline of a call sent at the latest slot we accept.
    latest = now + timedelta(seconds=deps.settings.pacing_max_wait_s)
    lease_until = deadlines_for(spec, latest, deps.settings.deadline_margin_s)[1]
    member = str(claim.attempt_id)
    wait_s = deps.limiter.acquire(
        member,
        keys.rates,
        keys.caps,
        lease_until,
        deps.settings.pacing_max_wait_s,
        ticket_s=TICKET_S,
        ticket_at_ms=ticket_at_ms,
    )
    slot_at = time.monotonic() + wait_s
    request = build_request(deps, spec, claim, chosen.caller)  # CPU work before the slot
    deps.sleep(max(0.0, slot_at - time.monotonic()))
    # A crash up to here leaves `dialing` (a spent slot, and a lease the retaken dial reuses).
    # `sending` is committed at the slot, before the send check rather than after it: a commit's
    # latency on a loaded host (tens of ms) between the check and the POST would bunch calls at
    # the gateway past the pacing slack. A crash in the milliseconds from here to the POST
    # leaves `sending` with nothing sent, which the silent deadline settles as not placed.
    sent_at = deps.clock()
    deadlines = deadlines_for(spec, sent_at, deps.settings.deadline_margin_s)
    if not records.mark_sending(deps.recorder, claim, sent_at, deadlines, chosen.caller):
        deps.limiter.release(member, keys.caps)
        caller_choice.give_back(deps.callers, claim, chosen)
        return DialResult.skipped
    while (wait_s := deps.limiter.confirm_send(member, keys.rates)) > 0:
        deps.sleep(wait_s)  # woke up late and bunched with the next slot: hold this one back
    try:
        accepted = deps.gateway.dial(request)
    except DialOutcomeUnknown as exc:
        breaker = deps.breaker.failure(gateway, member)
        records.record_unknown(deps.recorder, claim.attempt_id, exc)
        if breaker.just_opened:
            records.record_breaker(deps.recorder, spec.gateway.trunk, breaker)
        return DialResult.unknown
    except (DialNotPlaced, DialRejected) as exc:
        records.record_refusal(deps.recorder, records.Refused(claim, spec, gateway), exc)
        return DialResult.refused
    records.record_accept(deps.recorder, claim.attempt_id, accepted)
    metrics.DIALOUT_LATENCY.observe(accepted.latency_ms / 1000)
    if deps.breaker.success(gateway, claim.campaign_id):
        closed = Breaker(gateway, BreakerState.CLOSED)
        records.record_breaker(deps.recorder, spec.gateway.trunk, closed)
    return DialResult.sent
