"""Pure rules of event delivery: the body, its signature, the retry schedule, the order.

- Body: `{"id", "type", "created_at", "data"}` as compact JSON; `id` is the event's UUID, the same
  on every re-send, so a receiver deduplicates by it (delivery is at least once).
- Signature: `Campaign-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
  The timestamp is signed with the body, so a receiver can refuse an old capture replayed.
- Retries: exponential (2 s doubling to 10 min, ±20 % jitter) until `DEAD_AFTER` (24 h) past the
  first try, then the event is dead (kept, shown, re-sendable by `campaign events replay`).
- Order (kept by the outbox's claim query, `services.event_delivery`): per contact and
  destination, an event is sent only when no earlier event of that contact for that destination
  is still waiting (a campaign's own `campaign.state` events likewise among themselves); a dead
  one no longer holds the line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from campaign.domain.backoff import Backoff

SIGNATURE_HEADER = "Campaign-Signature"
DEAD_AFTER = timedelta(hours=24)
RETRY = Backoff.exponential(
    base=timedelta(seconds=2), cap=timedelta(minutes=10), factor=2.0, jitter=0.2
)


def body(event_id: str, event_type: str, created_at: datetime, data: Mapping[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact, keys sorted, UTC `created_at`."""
    document = {
        "id": event_id,
        "type": event_type,
        "created_at": created_at.isoformat(timespec="milliseconds"),
        "data": data,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign(secret: str, raw_body: bytes, at: int) -> str:
    """The `Campaign-Signature` header value for `raw_body` sent at unix second `at`."""
    if not secret:
        raise ValueError("an events secret is empty; set events.secret or EVENTS_SECRET")
    message = str(at).encode() + b"." + raw_body
    mac = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


@dataclass(frozen=True)
class Retry:
    """Try again at `at`."""

    at: datetime


@dataclass(frozen=True)
class Dead:
    """Give up: the event has failed for `DEAD_AFTER` since its first try."""


def after_failure(
    tries: int, first_tried_at: datetime, now: datetime, rng: random.Random
) -> Retry | Dead:
    """What follows the `tries`-th failed send (1 after the first): retry later, or dead."""
    if now - first_tried_at >= DEAD_AFTER:
        return Dead()
    at = now + RETRY.delay(max(0, tries - 1), rng)
    return Retry(min(at, first_tried_at + DEAD_AFTER))
