"""A CRM stand-in over `HttpServer`: records the signed events it receives.

It checks each signature as docs/operator.md tells a CRM to, answers 503 while `down`, and keeps
every request (duplicates too) so a test can judge at-least-once, order and deduplication.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.support.http_server import Received, Reply


@dataclass
class EventsReceiver:
    """Pass `respond` to `HttpServer`; point `events.url` (or EVENTS_URL) at its URL."""

    secret: str
    down: bool = False
    bodies: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def respond(self, request: Received) -> Reply:
        with self._lock:
            if self.down:
                self.refused += 1
                return Reply(503)
            if not _verified(
                self.secret, request.body, request.headers.get("campaign-signature", "")
            ):
                self.bad_signatures += 1
                return Reply(401)
            self.bodies.append(json.loads(request.body))
            return Reply(204)

    def events(self) -> list[dict[str, Any]]:
        """Every event once, in the order first received (duplicates on the wire dropped)."""
        with self._lock:
            seen: dict[str, dict[str, Any]] = {}
            for body in self.bodies:
                seen.setdefault(body["id"], body)
            return list(seen.values())


def _verified(secret: str, raw: bytes, header: str) -> bool:
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    message = fields.get("t", "").encode() + b"." + raw
    mac = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, fields.get("v1", ""))
