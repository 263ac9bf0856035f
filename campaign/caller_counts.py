"""The Redis side of caller-ID pools: the round-robin turn, and each caller's calls of the day.

The turn is one INCR per campaign: every worker shares it, so the pool is used in equal shares
whatever the number of workers. A caller's calls of a day are a set of attempt ids (not a
counter): taking a caller is idempotent for one attempt (a retaken dial keeps its caller and is
not counted twice), and an attempt that is not sent after all gives its place back. The check
and the add are one Lua script, so two workers never both take a caller's last call.

PostgreSQL stays the truth: the attempts table records each sent attempt's caller and time. A
day's sets are filled from it before their first use (`seed`), when Redis was wiped, or at the
start of each day; a marker key says they were. So a wipe costs one indexed query per campaign,
and the cap still holds (up to attempts taken but not yet marked sent at the very moment of the
wipe).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import cast

import redis

TTL_S = 3 * 24 * 3600  # a day's sets outlive the day in every zone
NOT_SEEDED = -1

_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local member = ARGV[2]
for i = 2, #KEYS do
  if redis.call('SISMEMBER', KEYS[i], member) == 1 then
    return i - 1
  end
end
local cap = tonumber(ARGV[1])
for i = 2, #KEYS do
  if redis.call('SCARD', KEYS[i]) < cap then
    redis.call('SADD', KEYS[i], member)
    redis.call('EXPIRE', KEYS[i], tonumber(ARGV[3]))
    return i - 1
  end
end
return 0
"""


class CallerCounts:
    """Round-robin turns and per-caller daily calls, shared by every worker."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._take = client.register_script(_TAKE)

    def _day_key(self, campaign_id: int, day: date, caller: str) -> str:
        return f"{self._prefix}:callers:{campaign_id}:{day.isoformat()}:{caller}"

    def _seeded_key(self, campaign_id: int, day: date) -> str:
        return f"{self._prefix}:callers:{campaign_id}:{day.isoformat()}:seeded"

    def turn(self, campaign_id: int) -> int:
        """The campaign's next turn (0, 1, 2, ...), across every worker."""
        return int(cast(int, self._redis.incr(f"{self._prefix}:callers:{campaign_id}:turn"))) - 1

    def take(
        self, campaign_id: int, day: date, ranked: Sequence[str], cap: int, member: str
    ) -> str | int | None:
        """The first caller of `ranked` with fewer than `cap` calls on `day` (or the one `member`
        already holds), now holding `member`; None when every one is full; NOT_SEEDED when the
        day's sets have not been filled from PostgreSQL yet (call `seed`, then again)."""
        keys = [self._seeded_key(campaign_id, day)]
        keys += [self._day_key(campaign_id, day, caller) for caller in ranked]
        found = int(cast(int, self._take(keys=keys, args=[cap, member, TTL_S])))
        if found == NOT_SEEDED:
            return NOT_SEEDED
        return ranked[found - 1] if found > 0 else None

    def seed(self, campaign_id: int, day: date, calls: Mapping[str, Sequence[int]]) -> None:
        """Add the day's sent attempts by caller (from PostgreSQL) and mark the day filled.
        Adding is idempotent, so concurrent seeds and live takes never double count."""
        pipe = self._redis.pipeline(transaction=True)
        for caller, attempt_ids in calls.items():
            if attempt_ids:
                key = self._day_key(campaign_id, day, caller)
                pipe.sadd(key, *(str(a) for a in attempt_ids))
                pipe.expire(key, TTL_S)
        pipe.set(self._seeded_key(campaign_id, day), "1", ex=TTL_S)
        pipe.execute()

    def give_back(self, campaign_id: int, day: date, caller: str, member: str) -> None:
        """`member` was not sent with `caller` after all: its place is free again."""
        self._redis.srem(self._day_key(campaign_id, day, caller), member)

    def count(self, campaign_id: int, day: date, caller: str) -> int:
        """Calls `caller` holds on `day` (for `status` and tests)."""
        return int(cast(int, self._redis.scard(self._day_key(campaign_id, day, caller))))
