"""The spec's `events` block: where a campaign's signed events go, and which of them.

    events:
      url: https://crm.example.com/hooks/campaign
      secret: <at least 32 bytes>
      types: [attempt.ended, contact.closed, campaign.state]   # default: all three

The secret is one we choose and hand to the CRM, so it needs the length of the engine's other
own secrets (`production.OWN_SECRET_BYTES`, 256 bits: the HMAC-SHA256 key size); a shorter one
is refused in every environment, since a spec carries no notion of one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from campaign.domain.blocks import read_block

ATTEMPT_ENDED = "attempt.ended"
CONTACT_CLOSED = "contact.closed"
CAMPAIGN_STATE = "campaign.state"
EVENT_TYPES = (ATTEMPT_ENDED, CONTACT_CLOSED, CAMPAIGN_STATE)
MIN_SECRET_BYTES = 32
"""Equal to `campaign.production.OWN_SECRET_BYTES` (a unit test holds them together)."""
KEYS = ("url", "secret", "types")


@dataclass(frozen=True)
class EventsSpec:
    """One destination for a campaign's events; `wants(type)` says whether a type goes there."""

    url: str
    secret: str
    types: tuple[str, ...] = EVENT_TYPES

    def wants(self, event_type: str) -> bool:
        return event_type in self.types

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "secret": self.secret, "types": list(self.types)}


def http_url_problem(url: object) -> str | None:
    """Why `url` cannot receive events (None when it can): an absolute http(s) URL with a host."""
    if not isinstance(url, str) or not url.strip():
        return "must be an http:// or https:// URL"
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f'"{url}" is not an http:// or https:// URL with a host'
    return None


def parse_events(data: object, path: str, errors: list[str]) -> EventsSpec | None:
    """The `events` block (None when absent or invalid; problems appended to `errors`)."""
    if data is None:
        return None
    block = read_block(data, path, KEYS, errors)
    if block is None:
        return None
    count = len(errors)
    url = block.get("url")
    if (problem := http_url_problem(url)) is not None:
        errors.append(f"{path}.url: {problem}")
    secret = block.get("secret")
    if not isinstance(secret, str) or len(secret.encode()) < MIN_SECRET_BYTES:
        errors.append(f"{path}.secret: must be a string of at least {MIN_SECRET_BYTES} bytes")
    types = _types(block, path, errors)
    if len(errors) > count or types is None:
        return None
    return EventsSpec(url=str(url).strip(), secret=str(secret), types=types)


def _types(block: Mapping[str, Any], path: str, errors: list[str]) -> tuple[str, ...] | None:
    raw = block.get("types", list(EVENT_TYPES))
    if not isinstance(raw, list) or not raw:
        errors.append(f"{path}.types: must be a non-empty list of {', '.join(EVENT_TYPES)}")
        return None
    unknown = [t for t in raw if t not in EVENT_TYPES]
    if unknown:
        errors.append(
            f"{path}.types: {', '.join(map(str, unknown))} not one of {', '.join(EVENT_TYPES)}"
        )
        return None
    # The declared order, duplicates dropped: the echo is canonical.
    return tuple(t for t in EVENT_TYPES if t in raw)
