"""Stored spec JSON → validated CampaignSpec, cached: hot paths (dispatch, dial, notify) parse once.

Edits to a running campaign's pacing or retry policy replace the stored JSON, so the next decision
sees them: the cache is keyed by the JSON text itself, never by campaign id.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from campaign.domain.spec import CampaignSpec, parse_spec


@lru_cache(maxsize=512)
def _parse(text: str) -> CampaignSpec:
    return parse_spec(json.loads(text))


def load_spec(stored: dict[str, Any]) -> CampaignSpec:
    """The spec stored on a campaign row (already validated once at create time)."""
    return _parse(json.dumps(stored, sort_keys=True))
