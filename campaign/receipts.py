"""Receipts: the sid of a placed call, kept in Redis when PostgreSQL could not take it.

The gateway answered 200 with a sid: the call exists. If the commit that records it fails (a
PostgreSQL restart, found by `make chaos`), the attempt stays `sending` without a sid, and should
every notification be lost as well (the API cannot store them while PostgreSQL is down), the
sweeper's silent deadline would take the call for one never placed and redial the person. So the
worker keeps the sid here, then retries the commit; the sweeper reads a receipt before it calls a
silent attempt unplaced. Written only on that failure path: the hot path never pays for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import redis

TTL_S = 24 * 3600  # far past any attempt's silent deadline


class Receipts:
    """Sids of placed calls whose commit failed, by attempt id."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, attempt_id: int) -> str:
        return f"{self._prefix}:receipt:{attempt_id}"

    def keep(self, attempt_id: int, sid: str, call_id: str) -> None:
        """Remember that the gateway placed `attempt_id`'s call as `sid`/`call_id`."""
        self._redis.set(self._key(attempt_id), f"{sid}\n{call_id}", ex=TTL_S)

    def find(self, attempt_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """The receipts of those attempts that have one: attempt id → (sid, call id)."""
        if not attempt_ids:
            return {}
        values = cast(list[bytes | None], self._redis.mget([self._key(a) for a in attempt_ids]))
        found = {}
        for attempt_id, value in zip(attempt_ids, values, strict=True):
            if value is not None:
                sid, _, call_id = value.decode().partition("\n")
                found[attempt_id] = (sid, call_id)
        return found
