"""Campaign specs as operators hand them in: create, read, list, and edit a running campaign.

A spec is validated in full (`parse_spec`) before anything is stored, and what is stored is the
echo with every default filled in, so the engine never meets a missing key. Only the pacing,
retry and window blocks may change after creation: they are read again on the engine's next
decision (`services.specs.load_spec` caches by JSON text, not by id). Callers own the transaction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.db.tables import CampaignRow
from campaign.domain.spec import parse_spec
from campaign.domain.states import CampaignState
from campaign.errors import Conflict, NotFound, SpecInvalid
from campaign.services import audit

EDITABLE_BLOCKS = ("pacing", "retry", "window")
"""Blocks an operator may replace on an existing campaign; the rest fixes what the calls are."""


@dataclass(frozen=True)
class CampaignView:
    """A campaign as operator surfaces show it (never an ORM row outside a session)."""

    id: int
    name: str
    state: str
    spec: dict[str, Any]
    paused_reason: str | None
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: CampaignRow) -> CampaignView:
        return cls(
            id=row.id,
            name=row.name,
            state=row.state,
            spec=row.spec,
            paused_reason=row.paused_reason,
            next_run_at=row.next_run_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (timestamps in ISO 8601 with offset)."""
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "spec": self.spec,
            "paused_reason": self.paused_reason,
            "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def unstorable(value: object, path: str) -> list[str]:
    """Values PostgreSQL's JSONB cannot hold (NUL characters, NaN and infinities), by path."""
    if isinstance(value, str):
        return [f"{path}: contains a NUL character"] if "\x00" in value else []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{path}: {value} is not a finite number"]
    if isinstance(value, Mapping):
        found = [f"{path}: key contains a NUL character" for k in value if "\x00" in str(k)]
        for key, item in value.items():
            found += unstorable(item, f"{path}.{key}" if path else str(key))
        return found
    if isinstance(value, list):
        return [e for i, item in enumerate(value) for e in unstorable(item, f"{path}[{i}]")]
    return []


def validate_spec(document: object) -> dict[str, Any]:
    """The stored form of a spec (defaults filled in); SpecInvalid lists every problem."""
    problems = unstorable(document, "")
    if problems:
        raise SpecInvalid(problems)
    return parse_spec(document).to_dict()


def create_campaign(session: Session, document: object) -> CampaignView:
    """Validate and store a new campaign in `draft`; nothing is written if the spec is invalid."""
    spec = validate_spec(document)
    row = CampaignRow(name=spec["name"], state=CampaignState.DRAFT.value, spec=spec)
    session.add(row)
    session.flush()
    session.refresh(row)
    audit.record(session, "campaign.create", campaign_id=row.id, after={"spec": spec})
    return CampaignView.of(row)


def get_campaign_row(session: Session, campaign_id: int, *, lock: bool = False) -> CampaignRow:
    """The row, optionally locked so lifecycle verbs serialise per campaign.

    The lock is `FOR NO KEY UPDATE`, not `FOR UPDATE`: inserting an attempt or contact takes
    `FOR KEY SHARE` on its campaign (the foreign key), and a dispatcher holding contact locks
    while it inserts attempts must not wait on a verb that is itself waiting on those contacts.
    """
    row = session.get(
        CampaignRow, campaign_id, with_for_update={"key_share": True} if lock else None
    )
    if row is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return row


def get_campaign(session: Session, campaign_id: int) -> CampaignView:
    """One campaign; NotFound names the id."""
    return CampaignView.of(get_campaign_row(session, campaign_id))


def list_campaigns(session: Session, *, limit: int, offset: int) -> tuple[list[CampaignView], int]:
    """A page of campaigns, newest first, and the total count (for pagination links)."""
    total = session.scalar(select(func.count()).select_from(CampaignRow)) or 0
    rows = session.scalars(
        select(CampaignRow).order_by(CampaignRow.id.desc()).limit(limit).offset(offset)
    )
    return [CampaignView.of(row) for row in rows], total


def _fixed_changes(document: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """Blocks outside EDITABLE_BLOCKS that the document would change (a full spec may be sent)."""
    fixed = [key for key in document if key not in EDITABLE_BLOCKS]
    if not fixed:
        return []
    echoed = validate_spec({**stored, **document})
    return [
        f"{key}: cannot be changed after create (only {', '.join(EDITABLE_BLOCKS)} can)"
        for key in fixed
        if echoed.get(key) != stored.get(key)
    ]


def edit_campaign(session: Session, campaign_id: int, document: object) -> CampaignView:
    """Replace the pacing/retry/window blocks present in `document` after validating the result.

    `document` is either just those blocks or a whole spec whose other blocks equal the stored
    ones (so an operator can edit the original YAML and send it back). The campaign row is locked
    so an edit never interleaves with a lifecycle verb. A cancelled campaign cannot be edited.
    """
    if not isinstance(document, Mapping):
        raise SpecInvalid([f"spec: must be a mapping, not {type(document).__name__}"])
    row = get_campaign_row(session, campaign_id, lock=True)
    if row.state == CampaignState.CANCELLED.value:
        raise Conflict(f"campaign {campaign_id} is cancelled; its spec can no longer change")
    problems = _fixed_changes(document, row.spec)
    if problems:
        raise SpecInvalid(problems)
    merged = dict(row.spec)
    merged.update({key: document[key] for key in EDITABLE_BLOCKS if key in document})
    before = row.spec
    row.spec = validate_spec(merged)
    changed = [key for key in EDITABLE_BLOCKS if row.spec.get(key) != before.get(key)]
    audit.record(
        session,
        "campaign.edit",
        campaign_id=campaign_id,
        before={key: before.get(key) for key in changed},
        after={key: row.spec.get(key) for key in changed},
    )
    session.flush()
    session.refresh(row)
    return CampaignView.of(row)
