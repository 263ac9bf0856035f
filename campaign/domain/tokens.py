"""The per-attempt token carried in `notifyurl` (`NOTIFY_BASE_URL/notify/<token>`).

SAVG's notifications are unauthenticated, so the URL itself is the credential: a token names one
attempt and an expiry, and carries an HMAC-SHA256 of both under `NOTIFY_SECRET`. Only we can mint
one, so a forged or guessed URL is refused before anything is written (docs/gateway.md §2).

A token expires (`GRACE` past its attempt's deadline, when the attempt is declared lost anyway),
so a URL that leaked into a log or a proxy stops working, and it verifies under any of the
configured secrets (`NOTIFY_SECRET`, then `NOTIFY_SECRET_PREVIOUS`), so rotating the secret does
not cut off the notifications of calls still live.

Format: `<attempt id>.<expiry, unix seconds>.<base64url HMAC truncated to 144 bits, no padding>`,
both numbers in canonical decimal. Every character is URL-safe and the encoding is canonical: one
(id, expiry) has exactly one valid token per secret.

The disposition URL the bot posts to (`domain.dispositions`) carries a token of the same form for
another `Purpose`: the purpose is part of what is signed, so a notify token is never a
disposition token nor the other way round, though both come from `NOTIFY_SECRET`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import Enum

from campaign.errors import NotFound

GRACE = timedelta(days=1)
"""How long past its attempt's deadline a token still verifies: late and retried posts of a call
that ran to its limits arrive well inside it, and the consumer applies them to the lost attempt."""

# 18 bytes (144 bits, above the 128-bit floor for truncated HMACs) encode to 24 base64 characters
# without padding, so there is no "=" to strip and no second spelling of one MAC.
_MAC_BYTES = 18
_MAC_CHARS = 24


class Purpose(Enum):
    """What a token opens. The value is the MAC's domain separation: a MAC minted for one purpose
    can never be replayed for another, nor as some other HMAC use of the secret (notify v2: the
    expiry is signed; v1 tokens, without one, are no longer accepted)."""

    NOTIFY = b"campaign.notify.v2:"
    DISPOSITION = b"campaign.disposition.v1:"

    @property
    def unknown(self) -> str:
        """The one message every refusal of this purpose's tokens carries."""
        return f"unknown {'notification' if self is Purpose.NOTIFY else 'disposition'} token"


DISPOSITION_GRACE = timedelta(hours=4)
"""How long past its attempt's deadline the bot may still post a disposition: right after the
call, or a little later from its own queue; later than that the URL is spent (404)."""
# The id bounded to a Postgres bigint and the expiry to 11 digits (year 5138); no leading zeros and
# ASCII digits only, because int() alone would also take "+7", "0_7", " 7" and "٧".
_TOKEN = re.compile(
    rf"(0|[1-9][0-9]{{0,18}})\.([1-9][0-9]{{0,10}})\.([A-Za-z0-9_-]{{{_MAC_CHARS}}})", re.ASCII
)


def _mac(attempt_id: int, expires: int, secret: str, purpose: Purpose) -> str:
    message = purpose.value + f"{attempt_id}.{expires}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode("ascii")


def _require_secret(secret: str) -> None:
    # An empty key makes every token forgeable by anyone who reads this file: a configuration bug.
    if not secret:
        raise ValueError("the notify secret is empty; set NOTIFY_SECRET")


def sign(
    attempt_id: int, secret: str, *, expires_at: datetime, purpose: Purpose = Purpose.NOTIFY
) -> str:
    """Mint the token for one attempt, valid until `expires_at` (timezone-aware; whole seconds,
    rounded up). Deterministic, so a re-sent dial with the same expiry carries the same URL."""
    _require_secret(secret)
    if isinstance(attempt_id, bool) or not 0 <= attempt_id < 2**63:
        raise ValueError(f"attempt id {attempt_id!r} is not a non-negative bigint")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    expires = -int(-expires_at.timestamp() // 1)  # ceil: never shorter than asked
    if not 0 < expires < 10**11:
        raise ValueError(f"expiry {expires_at.isoformat()} is out of range")
    return f"{attempt_id}.{expires}.{_mac(attempt_id, expires, secret, purpose)}"


def verify(
    token: str, secrets: Sequence[str], now: datetime, purpose: Purpose = Purpose.NOTIFY
) -> int:
    """Return the attempt id a genuine, unexpired token names, under any of `secrets`.

    Anything else (malformed, truncated, re-encoded, expired, signed with another secret) raises
    `NotFound("unknown notification token")` (`... disposition token` for that purpose) and
    nothing else, so the receiver answers 404 without telling a prober which part was wrong. MACs
    are compared in constant time.
    """
    if not secrets:
        raise ValueError("no notify secret; set NOTIFY_SECRET")
    for secret in secrets:
        _require_secret(secret)
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if match is None:
        raise NotFound(purpose.unknown)
    attempt_id, expires, mac = int(match.group(1)), int(match.group(2)), match.group(3)
    genuine = False
    for secret in secrets:  # every secret is tried, so timing does not tell which one matched
        genuine |= hmac.compare_digest(mac, _mac(attempt_id, expires, secret, purpose))
    if attempt_id >= 2**63 or not genuine or now.timestamp() >= expires:
        raise NotFound(purpose.unknown)
    return attempt_id
