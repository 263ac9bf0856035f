"""The Redis side of pacing: a GCRA rate limiter and expiring live-call leases, in one Lua script.

Why one script: the rate tokens and live-call slots of a dial must be taken together or not at all,
atomically across any number of worker processes, and judged by one clock (the Redis server's
`TIME`, not each worker's). Why leases instead of counters: a lease carries the attempt's deadline,
so a lost final notification cannot leak capacity; it simply expires. Everything here can be rebuilt
from PostgreSQL (`restore`), because Redis is not the source of truth. Until that happened
after a loss, nothing is granted, so a wipe can never let calls exceed a cap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast

import redis

from campaign.domain.account import trunk_name
from campaign.domain.pacing import JITTER_SLACK_MS, emission_interval_ms
from campaign.errors import PacingExhausted

# How long to wait when every live-call slot is taken: short, since finals free slots at any time.
LIVE_CAP_RETRY_MS = 200

_RESTORED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local hold = tonumber(ARGV[1])
for i = 1, #KEYS - 1 do
  redis.call('SET', KEYS[i], tostring(now + hold), 'PX', math.ceil(hold + 1000), 'NX')
end
redis.call('SET', KEYS[#KEYS], '1')
return 1
"""

_SEND = """
local window = tonumber(ARGV[1])
local member = ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local wait = 0
for i = 1, #KEYS do
  local allowed = tonumber(ARGV[2 + i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= allowed then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then
  return tostring(wait)
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], math.ceil(window * 2))
end
return '0'
"""

_ACQUIRE = """
local nrate = tonumber(ARGV[1])
local nlease = tonumber(ARGV[2])
local member = ARGV[3]
local lease_until = tonumber(ARGV[4])
local max_wait = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
-- no sentinel: Redis lost its data and the sweeper has not restored the leases yet
if redis.call('EXISTS', KEYS[nrate + nlease + 1]) == 0 then
  return {0, 200, -1}
end
-- live-call caps first: a full cap must not burn a rate slot
for i = 1, nlease do
  local key = KEYS[nrate + i]
  local cap = tonumber(ARGV[5 + 2 * nrate + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if not redis.call('ZSCORE', key, member) and redis.call('ZCARD', key) >= cap then
    return {0, -1, i}
  end
end
local ticket = tonumber(ARGV[5 + 2 * nrate + nlease + 1])
local held = tonumber(ARGV[5 + 2 * nrate + nlease + 2])
local slot = now
if held > 0 then
  -- a ticket's rate slots were taken when it was handed out
  slot = held
else
  -- GCRA with reservation: the earliest instant every bucket allows
  local tats = {}
  for i = 1, nrate do
    local tau = tonumber(ARGV[5 + 2 * i])
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    tats[i] = tat
    if tat - tau > slot then slot = tat - tau end
  end
  local far = slot - now > max_wait
  if far and slot - now > ticket then
    return {0, math.ceil(slot - now - math.max(max_wait, ticket)), 0}
  end
  for i = 1, nrate do
    local period = tonumber(ARGV[5 + 2 * i - 1])
    local new_tat = math.max(tats[i], slot) + period
    redis.call('SET', KEYS[i], tostring(new_tat), 'PX', math.ceil(new_tat - now + 1000))
  end
  if far then
    -- a ticket: the slot is this member's; it comes back by then for its leases
    return {2, tostring(slot - now), tostring(slot)}
  end
end
for i = 1, nlease do
  redis.call('ZADD', KEYS[nrate + i], lease_until, member)
  redis.call('PEXPIREAT', KEYS[nrate + i], lease_until + 60000)
end
return {1, tostring(math.max(slot - now, 0)), 0}
"""


class PacingWait(StrEnum):
    """Why a dial must wait (the `reason` of PacingExhausted, a metric label)."""

    RATE = "rate limit"
    LIVE_CAP = "live-call cap"
    REBUILDING = "limiter state being rebuilt"  # Redis lost its data; the sweeper restores it


@dataclass(frozen=True)
class RateLimit:
    """`cps` calls per second under `key`; `burst` calls may go back to back (1: strict spacing)."""

    key: str
    cps: float
    burst: int = 1

    @property
    def period_ms(self) -> float:
        return emission_interval_ms(self.cps)

    @property
    def tolerance_ms(self) -> float:
        return self.period_ms * (self.burst - 1)


@dataclass(frozen=True)
class LiveCap:
    """At most `cap` live calls under `key`."""

    key: str
    cap: int


class Limiter:
    """Takes rate tokens and live-call leases for one dial; shared by every worker via Redis."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._acquire = client.register_script(_ACQUIRE)
        self._restored = client.register_script(_RESTORED)
        self._send = client.register_script(_SEND)
        self._sentinel = f"{prefix}:limiter:ready"

    @property
    def client(self) -> redis.Redis:
        """The Redis client, for the dial path's other shared counts (`caller_counts`)."""
        return self._redis

    def rate_key(self, scope: str, name: object) -> str:
        """Key of a GCRA bucket (`scope` is `campaign` or `trunk`)."""
        return f"{self._prefix}:rate:{scope}:{name}"

    def live_key(self, scope: str, name: object) -> str:
        """Key of a live-call lease set."""
        return f"{self._prefix}:live:{scope}:{name}"

    def acquire(
        self,
        member: str,
        rates: Sequence[RateLimit],
        caps: Sequence[LiveCap],
        lease_until: datetime,
        max_wait_s: float = 0.5,
        *,
        ticket_s: float = 0.0,
        ticket_at_ms: float | None = None,
    ) -> float:
        """Reserve the next rate slot in every bucket and a lease in every cap, or nothing at all.

        Returns how many seconds to wait before dialing: the reserved slot lies at most
        `max_wait_s` ahead, so callers sleep briefly instead of polling, and slots are spaced
        exactly one period apart whatever the number of workers. Raises PacingExhausted (nothing
        taken) with when to come back. Re-acquiring for a member that already holds its leases
        takes no second slot in the caps.

        A slot further ahead than `max_wait_s` but within `ticket_s` is reserved all the same and
        handed out as a ticket (PacingExhausted with `ticket_at_ms`): the caller comes back by
        then and passes it as `ticket_at_ms`, which takes only the leases. Without tickets, every
        waiting dial was told to come back when the next slot was near, all at once, and all but
        one were told again: most of an idle fleet's CPU at moderate paces.
        """
        args: list[str | int | float] = [
            len(rates),
            len(caps),
            member,
            int(lease_until.timestamp() * 1000),
            max_wait_s * 1000,
        ]
        for rate in rates:
            args += [rate.period_ms, rate.tolerance_ms]
        args += [cap.cap for cap in caps]
        args += [ticket_s * 1000, ticket_at_ms or 0]
        keys = [r.key for r in rates] + [c.key for c in caps] + [self._sentinel]
        ok, wait_ms, which = self._acquire(keys=keys, args=args)
        if int(ok) == 2:
            wait_s = float(wait_ms) / 1000
            raise PacingExhausted(wait_s, PacingWait.RATE, ticket_at_ms=float(which))
        if ok:
            return max(float(wait_ms), 0.0) / 1000
        if int(which) < 0:
            raise PacingExhausted(float(wait_ms) / 1000, PacingWait.REBUILDING)
        if int(which) > 0:
            key = caps[int(which) - 1].key
            raise PacingExhausted(LIVE_CAP_RETRY_MS / 1000, PacingWait.LIVE_CAP, key)
        raise PacingExhausted(max(float(wait_ms), 1.0) / 1000, PacingWait.RATE)

    def confirm_send(self, member: str, rates: Sequence[RateLimit]) -> float:
        """Record the send right before the POST, or say how long to wait (nothing recorded).

        The hard guarantee behind the smooth reserved slots: at most `cps` sends in any window of
        1 s + JITTER_SLACK_MS, judged at the moment of sending. A worker thread that woke up late
        for its slot (a busy host) would otherwise bunch with the next one on time; this check makes
        the later one wait, so even the gateway's own count over any second stays within `cps`
        while request delays differ by up to the slack.
        """
        keys = [f"{rate.key}:sent" for rate in rates]
        allowed = [max(1, math.floor(rate.cps)) for rate in rates]
        wait_ms = float(self._send(keys=keys, args=[1000.0 + JITTER_SLACK_MS, member, *allowed]))
        return wait_ms / 1000

    def release(self, member: str, caps: Iterable[LiveCap]) -> None:
        """Free the member's live-call leases (its final arrived, or no call was made). One
        round trip, without MULTI/EXEC: each removal stands alone (a retry repeats it harmlessly),
        and the transaction's two extra commands were a third of the call's CPU."""
        pipe = self._redis.pipeline(transaction=False)
        for cap in caps:
            pipe.zrem(cap.key, member)
        pipe.execute()

    def live_count(self, key: str) -> int:
        """Live calls under `key` right now (expired leases excluded)."""
        now_s, now_us = cast(tuple[int, int], self._redis.time())
        now_ms = now_s * 1000 + now_us // 1000
        return cast(int, self._redis.zcount(key, f"({now_ms}", "+inf"))

    def ready(self) -> bool:
        """False after Redis lost its data, until :meth:`restore` ran."""
        return bool(self._redis.exists(self._sentinel))

    def restore(
        self,
        leases: Iterable[tuple[str, str, datetime]],
        rate_keys: Sequence[str],
        hold_s: float,
    ) -> int:
        """Rebuild what Redis lost from PostgreSQL's view; returns how many leases were re-added.

        `leases` are (key, member, until) of every live attempt; `rate_keys` (of running campaigns)
        are set `hold_s` ahead, past any slot reserved before the loss, so no burst follows. Only
        after this does :meth:`acquire` grant anything again: until then no cap can be exceeded.
        """
        pipe = self._redis.pipeline()
        items = list(leases)
        for key, member, until in items:
            pipe.zadd(key, {member: int(until.timestamp() * 1000)}, nx=True)
        results = pipe.execute() if items else []
        self._restored(keys=[*rate_keys, self._sentinel], args=[hold_s * 1000])
        return sum(int(r) for r in results)


@dataclass(frozen=True)
class PacingKeys:
    """The buckets and caps one attempt's dial goes through: its campaign's and its trunk's."""

    rates: tuple[RateLimit, ...]
    caps: tuple[LiveCap, ...]


def pacing_keys(
    limiter: Limiter,
    *,
    campaign_id: int,
    cps: float,
    burst: int,
    max_live_calls: int,
    trunk: str | None,
    trunk_cps: float | None,
    trunk_max_live_calls: int | None,
) -> PacingKeys:
    """The one place that turns configured limits into Redis keys (campaign, then trunk)."""
    rates = [RateLimit(limiter.rate_key("campaign", campaign_id), cps, burst)]
    caps = [LiveCap(limiter.live_key("campaign", campaign_id), max_live_calls)]
    name = trunk_name(trunk)
    if trunk_cps is not None:
        rates.append(RateLimit(limiter.rate_key("trunk", name), trunk_cps))
    if trunk_max_live_calls is not None:
        caps.append(LiveCap(limiter.live_key("trunk", name), trunk_max_live_calls))
    return PacingKeys(tuple(rates), tuple(caps))
