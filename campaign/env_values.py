"""How one environment value is read: connection URLs and `API_KEYS` entries.

Kept apart from `Settings` so the field rules read as plain functions (each one a validator of a
field there). Messages never echo a value, since URLs may carry a password and entries are keys.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import SecretStr


def postgres_url(value: str | None) -> str | None:
    """DATABASE_URL: unset or empty means an embedded server; `postgres://` is spelled the
    SQLAlchemy way."""
    if value is None or value == "":
        return None
    if not value.startswith(("postgresql", "postgres")):
        raise ValueError("must be a postgresql:// URL")
    _check_port(value)
    if value.startswith("postgres://"):
        value = "postgresql://" + value.removeprefix("postgres://")
    return value


def redis_url(value: str | None) -> str | None:
    """REDIS_URL: unset or empty means an embedded server."""
    if value is None or value == "":
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis:// URL")
    _check_port(value)
    return value


def http_base_url(value: str) -> str:
    """A base URL we append paths to, so without its trailing slash."""
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)


def api_key_entry(entry: str) -> tuple[str | None, str, str]:
    """(name, key, scope) of one `API_KEYS` entry: `key:scope`, or `name=key:scope` where the
    name is letters, digits and `._@-` (so a key that itself holds `=` still reads as a key)."""
    rest, _, scope = entry.rpartition(":")
    name, sep, key = rest.partition("=")
    if sep and _KEY_NAME.fullmatch(name):
        return name, key, scope
    return None, rest, scope


def _check_port(url: str) -> None:
    # Refused here, with a message that does not echo the URL (it may carry a password), rather
    # than later by a driver whose error quotes the whole string.
    try:
        urlsplit(url).port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None


def with_password(url: str, password: SecretStr) -> str:
    parts = urlsplit(url)
    if parts.password is not None or parts.scheme == "unix":
        return url
    user = quote(parts.username or "", safe="")
    netloc = f"{user}:{quote(password.get_secret_value(), safe='')}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc))
