"""The JWT that SAVG expects in the `auth` header of a dial-out (docs/gateway.md §1).

SAVG checks an HMAC signature made with the JWT app's client secret and reads the app from the
`appId` claim (spelled exactly so). Apps may enforce JTI, so every token carries a fresh `jti` and
a short life: a token must be minted per HTTP try, never cached or reused across retries.

The token and the secret are credentials: nothing here logs them, and no object here holds them,
so no `repr` can leak them.

SAVG issues the client secret, so its length is not ours to choose: pyjwt's per-token
`InsecureKeyLengthWarning` would repeat on every dial (and fail every test, warnings being errors)
without anyone able to act on it. Tokens are therefore signed by a JWS whose HMAC skips that check,
and `SavgClient` logs one warning at start-up when the secret is below `MIN_SECRET_BYTES`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS

# Claims this module owns: letting a caller override them would break replay protection or
# point the token at another app.
_OWN_CLAIMS = frozenset({"sub", "appId", "jti", "iat", "exp"})

_HASHES = {
    "HS256": HMACAlgorithm.SHA256,
    "HS384": HMACAlgorithm.SHA384,
    "HS512": HMACAlgorithm.SHA512,
}
# RFC 7518 §3.2: an HMAC key at least as long as the hash output.
MIN_SECRET_BYTES: Mapping[str, int] = {"HS256": 32, "HS384": 48, "HS512": 64}


class _VendorSecretHMAC(HMACAlgorithm):
    def check_key_length(self, key: Any) -> str | None:
        return None


def _make_jws() -> PyJWS:
    jws = PyJWS(algorithms=list(_HASHES))
    for name, hash_alg in _HASHES.items():
        jws.unregister_algorithm(name)
        jws.register_algorithm(name, _VendorSecretHMAC(hash_alg))
    return jws


_JWS = _make_jws()


def make_token(
    *,
    client_id: str,
    client_secret: str,
    algorithm: str = "HS256",
    ttl_s: int = 60,
    now: datetime,
    extra_claims: Mapping[str, object] | None = None,
) -> str:
    """Mint one signed token valid from `now` for `ttl_s` seconds, with a unique `jti`.

    `now` must be timezone-aware (a naive value would be read as local time and shift `iat`).
    `extra_claims` may add claims (an `aud` some deployments want) but not replace ours.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if algorithm not in _HASHES:
        raise ValueError(f"algorithm must be one of {sorted(_HASHES)}, got {algorithm!r}")
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")
    clashing = _OWN_CLAIMS.intersection(extra_claims or {})
    if clashing:
        raise ValueError(f"extra_claims may not replace {sorted(clashing)}")
    iat = int(now.timestamp())
    payload: dict[str, object] = {
        **(extra_claims or {}),
        "sub": client_id,
        "appId": client_id,
        "jti": uuid.uuid4().hex,
        "iat": iat,
        "exp": iat + ttl_s,
    }
    encoded = json.dumps(payload, separators=(",", ":")).encode()
    return _JWS.encode(encoded, client_secret, algorithm=algorithm)
