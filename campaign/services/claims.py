"""Taking an attempt for a dial: one statement claims it and reads every fact the gates need.

The claim is a conditional `queued → dialing` UPDATE with a fresh token (a duplicate delivery
changes nothing), joined to the contact and the campaign, returning what the gates and the
dial-out need: the number, its zones and metadata, the campaign's state, whether the number is on
the do-not-call list, a digest of the spec (the spec itself is parsed once per version, see
`specs.spec_for`), and the account rules' facts: a digest of the account policy in force, the
contact's region and consent, and the number's calls across every campaign. A task that waited
for pacing re-reads the same facts with its token.

The number's calls (a correlated subquery over the attempts of every campaign) matter only to an
account policy that caps calls per number, so the statement reads them only while the last policy
this process met does. Whatever that guess, the claim reads the digest of the policy in force in
the same statement, and a claim that finds a capping policy without the calls reads them at once:
the gates never judge a capped number without its history. The statements load no ORM objects:
each runs alone on the pooled psycopg connection (`engine.run_one`), one round trip.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, exists, func, null, or_, select, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session, sessionmaker

from campaign.db.engine import DriverStatement, run_one
from campaign.db.tables import AttemptRow, CampaignRow, ContactRow, DncRow, Timestamp
from campaign.domain.account import NUMBER_HISTORY
from campaign.domain.account_gates import NumberFacts
from campaign.domain.states import AttemptEvent, AttemptState, CampaignState, attempt_transition
from campaign.services import account, number_calls

_CLAIMED = attempt_transition(AttemptState.QUEUED, AttemptEvent.CLAIM).state


@dataclass(frozen=True)
class Claimed:
    """An attempt this worker holds (`token`), with the facts read in the same statement."""

    attempt_id: int
    token: str
    campaign_id: int
    contact_id: int
    phone: str
    zones: list[str]
    metadata: dict[str, Any]
    campaign_state: CampaignState
    on_dnc: bool
    spec_digest: str
    account_digest: str | None = None
    number: NumberFacts = field(default_factory=NumberFacts)
    external_id: str | None = None  # the CRM's id, echoed to the bot in `metadata.campaign`


def _calls() -> Any:
    return number_calls.calls_before(bindparam("since", type_=Timestamp))


def _facts(history: bool) -> tuple[Any, ...]:
    now = bindparam("now", type_=Timestamp)
    on_dnc = exists().where(
        DncRow.phone == ContactRow.phone,
        or_(DncRow.expires_at.is_(None), DncRow.expires_at > now),
    )
    return (
        AttemptRow.campaign_id,
        AttemptRow.contact_id,
        ContactRow.phone,
        ContactRow.zones,
        ContactRow.metadata_,
        CampaignRow.state,
        on_dnc,
        func.md5(cast(CampaignRow.spec, Text)),
        account.digest_in_force(),
        ContactRow.region,
        ContactRow.consent,
        _calls() if history else null(),
        ContactRow.external_id,
    )


_JOINED = (ContactRow.id == AttemptRow.contact_id, CampaignRow.id == AttemptRow.campaign_id)
_OURS = AttemptRow.id == bindparam("attempt_id")
# Built and compiled once: constructing these (the correlated subqueries, an aliased entity)
# cost more Python than executing them, on every dial. Values arrive as bind parameters. Keyed by
# whether they read the number's calls.
_CLAIM = {
    history: DriverStatement(
        update(AttemptRow)
        .where(_OURS, AttemptRow.state == AttemptState.QUEUED.value, *_JOINED)
        .values(state=_CLAIMED.value, claim_token=bindparam("token"), claimed_at=bindparam("now"))
        .returning(*_facts(history))
    )
    for history in (True, False)
}
_REREAD = {
    history: DriverStatement(
        select(*_facts(history)).where(
            _OURS,
            AttemptRow.state == _CLAIMED.value,
            AttemptRow.claim_token == bindparam("token"),
            *_JOINED,
        )
    )
    for history in (True, False)
}
_CALLS = DriverStatement(select(_calls()).where(_OURS, _JOINED[0]))


class _PolicyCaps:
    """Whether the last account policy this process's claims met caps calls per number: the
    next claim's guess (a wrong one costs a statement, never a missed cap)."""

    numbers = True


def take(
    sessions: sessionmaker[Session], attempt_id: int, token: str | None, now: datetime
) -> Claimed | None:
    """Claim a queued attempt (no `token`), or re-read one already claimed with `token`; None
    when it is not ours to dial (a duplicate delivery, a stale claim, an attempt gone)."""
    history = _PolicyCaps.numbers
    statement = (_CLAIM if token is None else _REREAD)[history]
    token = token or secrets.token_hex(16)
    params = {"attempt_id": attempt_id, "token": token, "now": now, "since": now - NUMBER_HISTORY}
    row = run_one(sessions, statement, params)
    if row is None:
        return None
    campaign_id, contact_id, phone, zones, metadata, state, on_dnc, digest = row[:8]
    account_digest, region, consent, calls, external_id = row[8:]
    if _caps_numbers(sessions, account_digest) and not history:
        history_row = run_one(sessions, _CALLS, params)
        if history_row is None:  # never judge a capped number without its history
            raise NoResultFound(f"attempt {attempt_id} is gone since its claim")
        (calls,) = history_row
    return Claimed(
        attempt_id=attempt_id,
        token=token,
        campaign_id=campaign_id,
        contact_id=contact_id,
        phone=phone,
        zones=list(zones),
        metadata=dict(metadata),
        campaign_state=CampaignState(state),
        on_dnc=bool(on_dnc),
        spec_digest=digest,
        account_digest=account_digest,
        number=NumberFacts(region=region, consent=consent, calls=tuple(calls or ())),
        external_id=external_id,
    )


def _caps_numbers(sessions: sessionmaker[Session], digest: str | None) -> bool:
    """Whether the policy with `digest` (as the claim read it) caps calls per number; remembered
    as the next claim's guess."""
    policy = account.cached(digest)
    if policy is None:
        with sessions() as session:
            policy = account.policy_for(session, digest)
    _PolicyCaps.numbers = policy.compliance.per_number.capped
    return _PolicyCaps.numbers
