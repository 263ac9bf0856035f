"""The per-attempt token carried in `notifyurl` (`NOTIFY_BASE_URL/notify/<token>`).

SAVG's notifications are unauthenticated, so the URL itself is the credential: a token names one
attempt and carries an HMAC-SHA256 of that id under `NOTIFY_SECRET`. Only we can mint one, so a
forged or guessed URL is refused before anything is written (docs/gateway.md §2).

Format: `<attempt id in canonical decimal>.<base64url HMAC truncated to 144 bits, no padding>`.
Every character is URL-safe, and the encoding is canonical: one id has exactly one valid token, so
a token can also serve as a lookup key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from campaign.errors import NotFound

# 18 bytes (144 bits, above the 128-bit floor for truncated HMACs) encode to 24 base64 characters
# without padding, so there is no "=" to strip and no second spelling of one MAC.
_MAC_BYTES = 18
_MAC_CHARS = 24
# Domain separation: a MAC minted here can never be replayed as some other HMAC use of the secret.
_CONTEXT = b"campaign.notify.v1:"
# Bounded to a Postgres bigint; no leading zeros and ASCII digits only, because int() alone would
# also take "+7", "0_7", " 7" and non-ASCII digits such as "٧".
_TOKEN = re.compile(rf"(0|[1-9][0-9]{{0,18}})\.([A-Za-z0-9_-]{{{_MAC_CHARS}}})", re.ASCII)


def _mac(attempt_id: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), _CONTEXT + str(attempt_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode("ascii")


def _require_secret(secret: str) -> None:
    # An empty key makes every token forgeable by anyone who reads this file: a configuration bug.
    if not secret:
        raise ValueError("the notify secret is empty; set NOTIFY_SECRET")


def sign(attempt_id: int, secret: str) -> str:
    """Mint the token for one attempt; deterministic, so a re-sent dial carries the same URL."""
    _require_secret(secret)
    if isinstance(attempt_id, bool) or not 0 <= attempt_id < 2**63:
        raise ValueError(f"attempt id {attempt_id!r} is not a non-negative bigint")
    return f"{attempt_id}.{_mac(attempt_id, secret)}"


def verify(token: str, secret: str) -> int:
    """Return the attempt id a genuine token names.

    Anything else (malformed, truncated, re-encoded, signed with another secret) raises
    `NotFound("unknown notification token")` and nothing else, so the receiver answers 404 without
    telling a prober which part was wrong. The MAC is compared in constant time.
    """
    _require_secret(secret)
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise NotFound("unknown notification token")
    attempt_id = int(match.group(1))
    if attempt_id >= 2**63 or not hmac.compare_digest(match.group(2), _mac(attempt_id, secret)):
        raise NotFound("unknown notification token")
    return attempt_id
