"""`SAVG-Signature: t=<unix>,v1=<hex>`: HMAC-SHA256 over `f"{t}.{body}"` (jambonz's scheme).

Checked only where SAVG_WEBHOOK_SECRET is configured; stale timestamps are refused so a captured
notification cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_TOLERANCE_S = 300


def sign_body(body: bytes, secret: str, timestamp: int) -> str:
    """The header value SAVG would send for `body` at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def signature_valid(
    header: str | None,
    body: bytes,
    secret: str,
    now_unix: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when `header` carries a fresh, matching v1 signature of `body`."""
    if not header:
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now_unix - timestamp) > tolerance_s:
        return False
    expected = sign_body(body, secret, timestamp).partition("v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))
