"""The `auth` header check a SAVG JWT app performs: signature, `appId`, expiry, and JTI replay.

A replayed `jti` is refused only when the app enforces JTI (`auth.enforce_jti`); the token's `jti`
is consumed as soon as the token verifies, even if the dial-out is then refused by a limit or a
fault, so a client that retries must mint a fresh token, as with the real gateway.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import jwt

from campaign.settings import Settings
from campaign.simulator.config import Auth


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the engine and the simulator share: the JWT app and the webhook secret."""

    client_id: str
    client_secret: str = field(repr=False)
    webhook_secret: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Credentials:
        """The same SAVG_CLIENT_ID / SAVG_CLIENT_SECRET / SAVG_WEBHOOK_SECRET the engine reads."""
        return cls(
            client_id=settings.savg_client_id,
            client_secret=settings.savg_client_secret.get_secret_value(),
            webhook_secret=(
                None
                if settings.savg_webhook_secret is None
                else settings.savg_webhook_secret.get_secret_value()
            ),
        )


class AuthRefused(Exception):
    """The token is not acceptable; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


_REASONS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "bad_algorithm"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.DecodeError, "malformed_token"),
)


class JwtVerifier:
    """Verifies tokens and remembers each seen `jti` until its token expires."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._expiry: list[tuple[float, str]] = []

    def reset(self) -> None:
        """Forget every seen `jti`."""
        self._seen.clear()
        self._expiry.clear()

    def verify(self, token: str | None, auth: Auth, credentials: Credentials, now: float) -> None:
        """Raise :class:`AuthRefused` unless `token` is one the configured app would accept."""
        if not token:
            raise AuthRefused("missing_token", "the auth header with a JWT is required")
        required = ["exp"] if auth.require_exp else []
        try:
            claims = jwt.decode(
                token,
                auth.client_secret or credentials.client_secret,
                algorithms=auth.algorithms,
                options={"require": required, "verify_aud": False},
                leeway=auth.leeway_s,
            )
        except jwt.InvalidTokenError as exc:
            reason = next((r for kind, r in _REASONS if isinstance(exc, kind)), "invalid_token")
            raise AuthRefused(reason, f"JWT refused: {exc}") from exc
        if claims.get("appId") != (auth.client_id or credentials.client_id):
            raise AuthRefused("wrong_app_id", "JWT refused: the appId claim is not this app's id")
        if auth.enforce_jti:
            self._check_jti(claims.get("jti"), claims.get("exp"), now)

    def _check_jti(self, jti: object, exp: object, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now:
            self._seen.discard(heapq.heappop(self._expiry)[1])
        if not isinstance(jti, str) or not jti:
            raise AuthRefused("missing_jti", "JWT refused: this app enforces JTI: send a jti")
        if jti in self._seen:
            raise AuthRefused("jti_replay", "JWT refused: this jti was already used")
        self._seen.add(jti)
        expires = float(exp) if isinstance(exp, int | float) else math.inf
        heapq.heappush(self._expiry, (expires, jti))
