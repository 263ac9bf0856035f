"""A number's calls across every campaign: the facts behind the account's per-number caps.

Read from `attempts` through two partial indexes (`ix_attempts_phone_calls`: placed calls by
number and time; `ix_attempts_phone_open`: open attempts by number), so a lookup reads only the
few entries of the numbers asked about, whatever the size of the account's history: O(1) per
contact, never a scan.

Two campaigns must never both dial a number because each saw it free. The dispatcher therefore
takes a transaction-scoped advisory lock per number (in one sorted order, so two claims cannot
deadlock) before it reads, and counts an open attempt anywhere as a call in progress: the second
claim waits for the first to commit, then sees its attempt and holds the contact. The dial path
re-reads the placed calls in its claim statement (`calls_before`), for what changed since.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Text, cast, column, false, func, null, select, true
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.orm import Session, aliased

from campaign.db.tables import AttemptRow, ContactRow
from campaign.domain.account import NUMBER_HISTORY, AccountPolicy
from campaign.domain.account_gates import NumberFacts
from campaign.domain.states import ATTEMPT_LIVE, AttemptState

if TYPE_CHECKING:  # gating calls this module
    from campaign.services.gating import GatedContact

_LOCK_SPACE = 0x0ACC
"""First key of the numbers' advisory locks (the second is the number's hash)."""
_OPEN = tuple(s.value for s in (AttemptState.QUEUED, AttemptState.DIALING, *ATTEMPT_LIVE))
_ERROR = AttemptState.ERROR.value


def _placed(
    attempt: type[AttemptRow], since: datetime | ColumnElement[datetime]
) -> list[ColumnElement[bool]]:
    # Spelled as the partial index's predicate, so the planner can use it.
    return [
        attempt.sending_at.is_not(None),
        attempt.state != _ERROR,
        attempt.sending_at > since,
    ]


def lock(session: Session, phones: Iterable[str]) -> None:
    """Hold every number's advisory lock until this transaction ends (sorted: no deadlock)."""
    numbers = sorted(set(phones))
    if not numbers:
        return
    hashes = (
        select(func.hashtext(column("p")).label("h"))
        .select_from(func.unnest(cast(numbers, ARRAY(Text))).alias("p"))
        .distinct()
        .order_by("h")
        .subquery()
    )
    session.execute(select(func.pg_advisory_xact_lock(_LOCK_SPACE, hashes.c.h)))


def facts(
    session: Session,
    contacts: Sequence[GatedContact],
    account: AccountPolicy,
    now: datetime,
) -> dict[int, NumberFacts]:
    """Each contact's account facts, by contact id: region and consent always; the number's
    placed calls and whether it is on a call elsewhere when the account caps calls per number
    (then the numbers stay locked until the caller's transaction ends)."""
    calls: dict[str, list[datetime]] = {}
    busy: set[str] = set()
    if account.compliance.per_number.capped and contacts:
        phones = [c.phone for c in contacts]
        lock(session, phones)
        since = now - NUMBER_HISTORY
        placed = select(AttemptRow.phone, AttemptRow.sending_at, false()).where(
            AttemptRow.phone.in_(phones), *_placed(AttemptRow, since)
        )
        open_ = select(AttemptRow.phone, null(), true()).where(
            AttemptRow.phone.in_(phones), AttemptRow.state.in_(_OPEN)
        )
        for phone, at, is_open in session.execute(placed.union_all(open_)):
            if is_open:
                busy.add(phone)
            else:
                calls.setdefault(phone, []).append(at)
    return {
        c.id: NumberFacts(
            region=c.region,
            consent=c.consent,
            calls=tuple(sorted(calls.get(c.phone, ()))),
            in_progress=c.phone in busy,
        )
        for c in contacts
    }


def calls_before(since: ColumnElement[datetime]) -> ColumnElement[list[datetime] | None]:
    """The placed calls to the claimed contact's number since `since` (the claim passes now -
    `NUMBER_HISTORY`), other than the claimed attempt, oldest first: a correlated subquery for
    the claim statement."""
    other = aliased(AttemptRow)
    return (
        select(func.array_agg(aggregate_order_by(other.sending_at, other.sending_at)))
        .where(
            other.phone == ContactRow.phone,
            other.id != AttemptRow.id,
            *_placed(other, since),
        )
        .scalar_subquery()
    )
