"""What `ENVIRONMENT=production` refuses: the rules, as plain functions over the values.

Settings runs them as a model validator, so every process that reads its settings (api, worker,
dispatcher, simulator, `celery -A workers.app`, any CLI verb) stops at start with one line naming
each variable at fault, instead of dialling with a published key or handing out URLs an
eavesdropper can replay.

Refused in production:
- development defaults and placeholders: a value starting `dev-` (every development default and
  the compose file's published keys such as `dev-operator-key` do), or containing `REPLACE_ME`,
  `change-me` or `changeme` (the Kubernetes Secret's placeholders), in a secret, in an API key,
  or as the password inside `DATABASE_URL` / `REDIS_URL`;
- short secrets: the ones we choose (`NOTIFY_SECRET`, `NOTIFY_SECRET_PREVIOUS`, every API key)
  under 32 bytes; the ones SAVG issues (`SAVG_CLIENT_SECRET`, `SAVG_WEBHOOK_SECRET`) under 16,
  since their length is the vendor's choice and 128 bits is the floor for an HMAC key;
- empty secrets (an empty `SAVG_WEBHOOK_SECRET` is refused at its field: it would otherwise turn
  signature checks on with an empty key);
- public URLs (`NOTIFY_BASE_URL`, `SAVG_BASE_URL`) that are not `https://`.

Messages name the variable and, for API keys, the entry's position: never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

OWN_SECRET_BYTES = 32
"""Secrets we generate: 256 bits, the size of the HMAC-SHA256 key."""
VENDOR_SECRET_BYTES = 16
"""Secrets SAVG issues: 128 bits, the least an HMAC key should carry."""

_PLACEHOLDER = re.compile(r"replace[_-]?me|change[_-]?me|^dev-", re.IGNORECASE)
GENERATE_HINT = "to make a secret: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def is_placeholder(value: str) -> bool:
    """True for a development default or a placeholder left in a manifest."""
    return not value.strip() or _PLACEHOLDER.search(value.strip()) is not None


def secret_problems(name: str, value: str | None, min_bytes: int) -> Iterator[str]:
    """Why `value` cannot be the production value of `name` (nothing when it can, or is unset)."""
    if value is None:
        return
    if is_placeholder(value):
        yield f"{name}: a development or placeholder value"
    elif len(value.encode()) < min_bytes:
        yield f"{name}: {len(value.encode())} bytes; production needs at least {min_bytes}"


def api_key_problems(pairs: list[tuple[str, str]]) -> Iterator[str]:
    """Placeholder or short keys among `API_KEYS`, named by their 1-based position and scope."""
    for position, (key, scope) in enumerate(pairs, 1):
        for problem in secret_problems("API_KEYS", key, OWN_SECRET_BYTES):
            yield problem.replace("API_KEYS:", f"API_KEYS: entry {position} ({scope}):", 1)


def https_problems(name: str, url: str) -> Iterator[str]:
    """A public URL that is not https: tokens and JWTs would cross the network in clear."""
    if not url.startswith("https://"):
        yield f"{name}: must be an https:// URL in production"


def url_password_problems(name: str, url: str | None) -> Iterator[str]:
    """A placeholder password inside a server URL (the Kubernetes Secret's `REPLACE_ME`)."""
    if url is None:
        return
    try:
        password = urlsplit(url).password
    except ValueError:
        return  # the field validator already refused a malformed URL
    if password is not None and is_placeholder(unquote(password)):
        yield f"{name}: the password is a development or placeholder value"
