"""Row builders for tests: campaigns from a spec dict, contacts from phone numbers."""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from campaign.clock import utcnow
from campaign.db.tables import CampaignRow, ContactRow, RunRow
from campaign.domain import tokens
from campaign.domain.spec import parse_spec
from campaign.settings import Settings

BASE_SPEC: dict[str, Any] = {
    "name": "test",
    "gateway": {
        "bot": "st-test-bot",
        "caller": "+12706165788",
        "machineDetection": "detect",
        "timers": {
            "noSpeechTimeoutMs": 500,
            "decisionTimeoutMs": 500,
            "toneTimeoutMs": 500,
            "greetingCompletionTimeoutMs": 500,
        },
        "timeoutInMs": 3000,
    },
    "pacing": {"cps": 20, "max_live_calls": 10, "max_call_duration": "2s"},
    "retry": {
        "max_attempts": 4,
        "outcomes": {
            "busy": {"delays": ["1s", "1s"]},
            "rejected": {"delays": ["1s"], "max": 2},
            "unavailable": {"delays": ["1s"]},
            "lost": {"delays": ["1s"]},
            "gateway_error": {"delays": ["1s"]},
        },
    },
}


def spec(**overrides: Any) -> dict[str, Any]:
    """BASE_SPEC with top-level blocks replaced or merged (dicts merge one level deep)."""
    out = copy.deepcopy(BASE_SPEC)
    out["name"] = f"test-{secrets.token_hex(3)}"
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def make_campaign(session: Session, doc: dict[str, Any], *, state: str = "running") -> int:
    """A campaign row (with run #1 when running), spec validated as `campaign create` would."""
    parsed = parse_spec(doc)
    campaign = CampaignRow(name=parsed.name, state=state, spec=parsed.to_dict())
    session.add(campaign)
    session.flush()
    if state == "running":
        run = RunRow(campaign_id=campaign.id, number=1, state="running", started_at=utcnow())
        session.add(run)
        session.flush()
        campaign.current_run_id = run.id
    return campaign.id


def add_contacts(
    session: Session,
    campaign_id: int,
    phones: Iterable[str],
    *,
    zones: list[str] | None = None,
    due: datetime | None = None,
) -> list[int]:
    """Pending contacts due at `due` (now by default)."""
    rows = [
        {
            "campaign_id": campaign_id,
            "phone": phone,
            "zones": zones or ["America/New_York"],
            "metadata_": {"name": f"contact {i}"},
            "state": "pending",
            "next_due_at": due or utcnow(),
            "line_no": i + 2,
        }
        for i, phone in enumerate(phones)
    ]
    return list(session.scalars(insert(ContactRow).returning(ContactRow.id), rows))


def us_numbers(count: int, start: int = 0) -> list[str]:
    """Distinct valid US numbers (+1 201 555 01xx style, in a valid exchange)."""
    return [f"+1201{2000000 + start + i:07d}" for i in range(count)]


def notify_path(settings: Settings, attempt_id: int, *, valid_for_s: float = 3600) -> str:
    """`/notify/<token>` for an attempt, signed as the dialer would, valid for `valid_for_s`."""
    expires_at = utcnow() + timedelta(seconds=valid_for_s)
    secret = settings.notify_secret.get_secret_value()
    return f"/notify/{tokens.sign(attempt_id, secret, expires_at=expires_at)}"
