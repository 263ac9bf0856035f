"""What the dial path writes, each step its own short transaction (no lock held across the POST).

`sending` is marked at the slot; the gateway's answer is recorded after the POST (the sid, or why
the outcome is unknown, or the refusal closing the attempt); a gate that closed since the claim
releases the attempt and hands its contact back. Every write is conditional on the claim, so a
stale worker changes nothing.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from redis import RedisError
from sqlalchemy import bindparam, case, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from campaign.breaker import Breaker, GatewayBreaker
from campaign.db.engine import DriverStatement, after_commit, run_one, transaction
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, Timestamp
from campaign.domain import gates
from campaign.domain.outcomes import OutcomeClass
from campaign.domain.spec import CampaignSpec
from campaign.domain.states import (
    AttemptEvent,
    AttemptState,
    CampaignEvent,
    CampaignState,
    attempt_transition,
    campaign_transition,
)
from campaign.errors import DialNotPlaced, GatewayError
from campaign.gateway.client import DialAccepted
from campaign.limits import PacingKeys
from campaign.receipts import Receipts
from campaign.services import event_outbox, gating, lifecycle
from campaign.services.claims import Claimed
from campaign.services.leases import Leases
from campaign.services.redial import close_attempt
from campaign.services.specs import load_spec
from campaign.settings import Settings

logger = logging.getLogger(__name__)

_SENT = attempt_transition(AttemptState.DIALING, AttemptEvent.SEND).state


@dataclass(frozen=True)
class Recorder:
    """The stores the dial path writes to."""

    settings: Settings
    sessions: sessionmaker[Session]
    leases: Leases
    breaker: GatewayBreaker
    receipts: Receipts
    clock: Callable[[], datetime]
    rng: random.Random


# The hot statements are built and compiled once, values as bind parameters (building one per
# dial cost about as much Python as running it), and each runs alone on the pooled driver
# connection (`engine.run_one`): they load no objects.
_MARK_SENDING = DriverStatement(
    update(AttemptRow)
    .where(
        AttemptRow.id == bindparam("attempt_id"),
        AttemptRow.state == AttemptState.DIALING.value,
        AttemptRow.claim_token == bindparam("token"),
    )
    .values(
        state=_SENT.value,
        sending_at=bindparam("sent_at", type_=Timestamp),
        silent_deadline_at=bindparam("silent", type_=Timestamp),
        deadline_at=bindparam("full", type_=Timestamp),
        caller=bindparam("caller"),
        dial_tries=AttemptRow.dial_tries + 1,
    )
    .returning(AttemptRow.id)
)


def mark_sending(
    rec: Recorder,
    claim: Claimed,
    sent_at: datetime,
    deadlines: tuple[datetime, datetime],
    caller: str,
) -> bool:
    """`dialing → sending` with the `caller` it shows, for the holder of the claim; False when
    the claim went stale."""
    silent, full = deadlines
    params = {
        "attempt_id": claim.attempt_id,
        "token": claim.token,
        "sent_at": sent_at,
        "silent": silent,
        "full": full,
        "caller": caller,
    }
    return run_one(rec.sessions, _MARK_SENDING, params) is not None


def release(
    rec: Recorder, claim: Claimed, verdict: gates.Defer | gates.Close, keys: PacingKeys
) -> bool:
    """A gate closed between the claim and the POST: the attempt was never made, its contact
    waits or closes (`gating.hold`); False when the claim went stale meanwhile."""
    with transaction(rec.sessions) as session:
        attempt = session.get(AttemptRow, claim.attempt_id, with_for_update=True)
        if (
            attempt is None
            or attempt.state != AttemptState.DIALING
            or attempt.claim_token != claim.token
        ):
            return False
        contact = session.get_one(ContactRow, attempt.contact_id, with_for_update=True)
        attempt.state = attempt_transition(AttemptState.DIALING, AttemptEvent.RELEASE).state.value
        attempt.decision = gates.not_dialed(verdict.reason)
        closes = isinstance(verdict, gates.Close)  # only a closing reports (and reads the spec)
        events = event_outbox.events_of(session, claim.campaign_id) if closes else None
        gating.hold(session, contact, verdict, events)
        if isinstance(verdict, gates.Defer):
            contact.attempts -= 1  # so its next attempt takes this one's number
        limiter = rec.leases.limiter
        after_commit(session, lambda: limiter.release(str(claim.attempt_id), keys.caps))
    return True


_ACCEPTED = attempt_transition(AttemptState.SENDING, AttemptEvent.ACCEPT).state
# How long a worker holding a sid keeps retrying its commit before leaving it to the receipt.
ACCEPT_RETRY_S = 5.0


_WRITE_ACCEPT = DriverStatement(
    update(AttemptRow)
    .where(AttemptRow.id == bindparam("attempt_id"))
    .values(
        sid=bindparam("sid"),
        call_id=bindparam("call_id"),
        accepted_at=bindparam("accepted_at", type_=Timestamp),
        dial_latency_ms=bindparam("latency_ms"),
        state=case(
            (AttemptRow.state == AttemptState.SENDING.value, _ACCEPTED.value),
            else_=AttemptRow.state,
        ),
    )
)


def _write_accept(rec: Recorder, attempt_id: int, accepted: DialAccepted) -> None:
    """One statement: the sid, and `sending → accepted` unless a notification already moved the
    attempt on (it only moves from `sending`; later states keep theirs)."""
    params = {
        "attempt_id": attempt_id,
        "sid": accepted.sid,
        "call_id": accepted.call_id,
        "accepted_at": rec.clock(),
        "latency_ms": accepted.latency_ms,
    }
    run_one(rec.sessions, _WRITE_ACCEPT, params)


def record_accept(rec: Recorder, attempt_id: int, accepted: DialAccepted) -> None:
    """Record the sid of a placed call; if PostgreSQL refuses, keep a receipt in Redis (the sweeper
    reads it before calling a silent attempt unplaced) and retry the commit for a while."""
    try:
        _write_accept(rec, attempt_id, accepted)
        return
    except DBAPIError as exc:
        logger.error(
            "attempt %s: sid %s not recorded (%s); keeping a receipt", attempt_id, accepted.sid, exc
        )
    try:
        rec.receipts.keep(attempt_id, accepted.sid, accepted.call_id)
    except RedisError as exc:  # both stores down: the notifications are the call's only trace
        logger.error("attempt %s: no receipt for sid %s either: %s", attempt_id, accepted.sid, exc)
    retrying = Retrying(
        retry=retry_if_exception_type(DBAPIError),
        stop=stop_after_delay(ACCEPT_RETRY_S),
        wait=wait_exponential(multiplier=0.2, max=1.0),
        reraise=True,
    )
    try:
        retrying(_write_accept, rec, attempt_id, accepted)
    except DBAPIError:
        logger.error("attempt %s: sid %s left to its receipt", attempt_id, accepted.sid)


def record_unknown(rec: Recorder, attempt_id: int, exc: GatewayError) -> None:
    with transaction(rec.sessions) as session:
        row = session.get_one(AttemptRow, attempt_id)
        row.error = f"outcome unknown: {exc}"[:500]
        row.sip_code = exc.status_code
    logger.warning(
        "attempt %s: dial-out outcome unknown (%s); waiting for a notification", attempt_id, exc
    )


@dataclass(frozen=True)
class Refused:
    """What a refusal is recorded with: the claim, its spec and its gateway."""

    claim: Claimed
    spec: CampaignSpec
    gateway: str


def record_refusal(rec: Recorder, refused: Refused, exc: GatewayError) -> None:
    """Nothing was placed: close the attempt as `gateway_error` and let the policy redial.

    A sick gateway (DialNotPlaced: connection failures, 429/503 past the in-place retries) counts
    toward its breaker, and once that is open the refusal is not charged to the contact; a 4xx is
    a wrong request: refused credentials pause the campaign at once, a long streak of other
    refusals pauses it too.
    """
    attempt_id = refused.claim.attempt_id
    campaign_id = refused.claim.campaign_id
    why: str | None = None
    held_by: Breaker | None = None
    opened: Breaker | None = None
    if isinstance(exc, DialNotPlaced):
        breaker = rec.breaker.failure(refused.gateway, str(attempt_id))
        held_by = breaker if breaker.open else None
        opened = breaker if breaker.just_opened else None
    elif exc.status_code in (401, 403):
        why = "gateway refused our credentials"
    else:
        streak = rec.breaker.rejected(campaign_id)
        if streak >= rec.settings.gateway_failures_before_pause:
            why = f"gateway refused {streak} dial-outs in a row"
    with transaction(rec.sessions) as session:
        row = session.get_one(AttemptRow, attempt_id, with_for_update=True)
        row.sip_code = exc.status_code
        row.error = str(exc)[:500]
        close_attempt(
            session,
            row,
            event=AttemptEvent.ERROR,
            outcome=OutcomeClass.GATEWAY_ERROR,
            spec=refused.spec,
            now=rec.clock(),
            rng=rec.rng,
            leases=rec.leases,
            held_by=held_by,
        )
        if opened is not None:
            breaker_changed(session, refused.spec.gateway.trunk, opened)
    if why is not None:
        # Its own transaction, holding only the campaign row: never contact-then-campaign locks.
        with transaction(rec.sessions) as session:
            pause_for_gateway(session, campaign_id, f"{why}: {exc}")


def pause_for_gateway(session: Session, campaign_id: int, reason: str) -> None:
    """Pause a running campaign on its own, with a reason `status` shows; its queued attempts
    are handed back as an operator's pause hands them back."""
    # FOR NO KEY UPDATE, as the lifecycle verbs lock campaigns: attempt inserts (FK key-share
    # locks) are not blocked by it.
    campaign = session.get_one(CampaignRow, campaign_id, with_for_update={"key_share": True})
    state = CampaignState(campaign.state)
    if state is CampaignState.RUNNING:
        campaign.state = campaign_transition(state, CampaignEvent.PAUSE).state
        campaign.paused_reason = reason[:500]
        logger.error("campaign %s paused: %s", campaign_id, reason)
        events = load_spec(campaign.spec).events
        event_outbox.campaign_state(
            session, campaign, events, "paused", reason=campaign.paused_reason
        )
        lifecycle.release_queued(session, campaign_id, CampaignState(campaign.state))


def record_breaker(rec: Recorder, trunk: str | None, breaker: Breaker) -> None:
    """Report a breaker transition the dial path observed in Redis (see `breaker_changed`)."""
    with transaction(rec.sessions) as session:
        breaker_changed(session, trunk, breaker)


def breaker_changed(session: Session, trunk: str | None, breaker: Breaker) -> None:
    """`campaign.state` breaker_opened / breaker_closed for every running or paused campaign
    dialing through the gateway of `trunk`.

    The transition itself lives in Redis: this runs after it, from the one dial that made it, so
    a crash in between loses the event (at most once, unlike the outbox's other events).
    """
    change = "breaker_opened" if breaker.open else "breaker_closed"
    campaigns = session.scalars(
        select(CampaignRow).where(
            CampaignRow.state.in_([CampaignState.RUNNING.value, CampaignState.PAUSED.value])
        )
    ).all()
    for campaign in campaigns:
        spec = load_spec(campaign.spec)
        if spec.gateway.trunk == trunk:
            reason = breaker.reason() if breaker.open else None
            event_outbox.campaign_state(
                session,
                campaign,
                spec.events,
                change,
                reason=reason,
                extra={"gateway": breaker.gateway},
            )
