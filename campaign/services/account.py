"""The account policy as stored: versions in PostgreSQL, the newest in force, parsed once each.

Applying a document validates it in full (`AccountPolicy.from_dict`: every problem with its path)
and stores it as a new version, unless it equals the one in force (applying twice is a no-op).
Hot paths never wait on a cache to expire: the dispatcher reads a digest of the version in force
with each claim (one index lookup) and the dial path reads it in its claim statement, and both
parse a document only the first time they meet it, so an applied change is seen by the next
claim. The cache is keyed by the document's digest, never by version number: one process may
talk to several databases (tests do), and versions of different databases share numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from campaign.db.tables import AccountPolicyRow
from campaign.domain.account import AccountPolicy, TrunkLimit
from campaign.errors import SpecInvalid
from campaign.services import audit
from campaign.services.campaigns import unstorable
from campaign.settings import Settings

_BY_DIGEST: dict[str, AccountPolicy] = {}
_BY_DIGEST_MAX = 64
_APPLY_LOCK = 0x0ACC0047
"""Advisory lock key that serialises applies."""
NONE = AccountPolicy()


def environment_trunk(settings: Settings) -> TrunkLimit:
    """The trunk limits of the environment (`TRUNK_CPS`, `TRUNK_MAX_LIVE_CALLS`): the defaults
    under any the policy sets."""
    return TrunkLimit(settings.trunk_cps, settings.trunk_max_live_calls)


def _digest() -> ColumnElement[str]:
    return func.md5(cast(AccountPolicyRow.document, Text))


def digest_in_force() -> ScalarSelect[str | None]:
    """A digest of the document in force as a scalar subquery (None before any apply), for a
    claim to read in its own statement."""
    return select(_digest()).order_by(AccountPolicyRow.version.desc()).limit(1).scalar_subquery()


def _remember(digest: str, document: dict[str, Any]) -> AccountPolicy:
    policy = AccountPolicy.from_dict(document)
    if len(_BY_DIGEST) >= _BY_DIGEST_MAX:
        _BY_DIGEST.clear()  # documents pile up only across many applies: start afresh
    _BY_DIGEST[digest] = policy
    return policy


def _by_digest(session: Session, digest: str) -> AccountPolicy:
    policy = _BY_DIGEST.get(digest)
    if policy is None:
        document = session.execute(
            select(AccountPolicyRow.document).where(_digest() == digest).limit(1)
        ).scalar_one()
        policy = _remember(digest, document)
    return policy


def current(session: Session) -> AccountPolicy:
    """The policy in force, as `session` sees it; one index lookup once a document is known."""
    digest = session.scalar(select(digest_in_force()))
    return NONE if digest is None else _by_digest(session, digest)


def cached(digest: str | None) -> AccountPolicy | None:
    """The policy whose document has `digest`, if this process has parsed it (no I/O)."""
    return NONE if digest is None else _BY_DIGEST.get(digest)


def policy_for(session: Session, digest: str | None) -> AccountPolicy:
    """The policy whose document has `digest` (as a claim read it); `session` is used only on
    the first sight of a document, to fetch and parse it."""
    return NONE if digest is None else _by_digest(session, digest)


@dataclass(frozen=True)
class AccountView:
    """The policy in force: its version (0 before any apply), who applied it and when."""

    version: int
    applied_at: datetime | None
    applied_by: str | None
    policy: dict[str, Any]
    changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "applied_by": self.applied_by,
            "changed": self.changed,
            "policy": self.policy,
        }


def show(session: Session) -> AccountView:
    """The policy in force with every default filled in (no rules before any apply)."""
    row = session.scalar(
        select(AccountPolicyRow).order_by(AccountPolicyRow.version.desc()).limit(1)
    )
    if row is None:
        return AccountView(0, None, None, NONE.to_dict())
    return AccountView(row.version, row.applied_at, row.applied_by, row.document)


def apply(session: Session, document: object) -> AccountView:
    """Validate and store `document` as the new version in force (SpecInvalid lists every
    problem; nothing is stored then). Equal to the version in force: nothing changes."""
    problems = unstorable(document, "")
    if problems:
        raise SpecInvalid(problems)
    stored = AccountPolicy.from_dict(document).to_dict()
    # Serialise applies, so two at once cannot both believe they replaced the same version.
    session.execute(select(func.pg_advisory_xact_lock(_APPLY_LOCK)))
    before = show(session)
    if before.version and before.policy == stored:
        return before
    row = AccountPolicyRow(document=stored, applied_by=audit.actor_of(session))
    session.add(row)
    session.flush()
    session.refresh(row)
    audit.record(
        session,
        "account.apply",
        before=before.policy if before.version else None,
        after=stored,
        detail={"version": row.version},
    )
    return AccountView(row.version, row.applied_at, row.applied_by, stored, changed=True)
