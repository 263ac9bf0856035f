"""Process heartbeats in Redis, for `campaign health worker|dispatcher` (container exec probes)."""

from __future__ import annotations

import socket

import redis

TTL_S = 30


def _key(prefix: str, kind: str, host: str) -> str:
    return f"{prefix}:heartbeat:{kind}:{host}"


def beat(client: redis.Redis, prefix: str, kind: str) -> None:
    """Record that a `kind` process on this host is alive (expires after TTL_S)."""
    client.set(_key(prefix, kind, socket.gethostname()), "1", ex=TTL_S)


def alive(client: redis.Redis, prefix: str, kind: str) -> bool:
    """Whether a `kind` process on this host beat within TTL_S."""
    return bool(client.exists(_key(prefix, kind, socket.gethostname())))
