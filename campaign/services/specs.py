"""Stored spec JSON → validated CampaignSpec, cached: hot paths (dispatch, dial, notify) parse once.

Edits to a running campaign's pacing or retry policy replace the stored JSON, so the next decision
sees them: the cache is keyed by the JSON text itself, never by campaign id.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.db.tables import CampaignRow
from campaign.domain.spec import CampaignSpec, parse_spec
from campaign.errors import NotFound


@lru_cache(maxsize=512)
def _parse(text: str) -> CampaignSpec:
    return parse_spec(json.loads(text))


def load_spec(stored: dict[str, Any]) -> CampaignSpec:
    """The spec stored on a campaign row (already validated once at create time)."""
    return _parse(json.dumps(stored, sort_keys=True))


# Parsed specs by (campaign, md5 of the stored JSON text): the dial path reads only the digest
# with its claim and fetches the spec itself once per campaign version.
_BY_DIGEST: dict[tuple[int, str], CampaignSpec] = {}
_BY_DIGEST_MAX = 1024


def spec_for(session: Session, campaign_id: int, digest: str) -> CampaignSpec:
    """The campaign's spec as of `digest` (md5 of its stored JSON text); `session` is used only
    on the first sight of a version, to fetch and parse it."""
    key = (campaign_id, digest)
    spec = _BY_DIGEST.get(key)
    if spec is None:
        stored = session.scalar(select(CampaignRow.spec).where(CampaignRow.id == campaign_id))
        if stored is None:
            raise NotFound(f"campaign {campaign_id} not found")
        spec = load_spec(stored)
        if len(_BY_DIGEST) >= _BY_DIGEST_MAX:
            _BY_DIGEST.clear()  # versions pile up only across many edits: start afresh
        _BY_DIGEST[key] = spec
    return spec
