"""The gateway breaker: a sick gateway holds every campaign on it, probes, and recovers by itself.

Per gateway (base URL + trunk), shared by every worker through Redis, judged by the Redis clock:

    closed ──(N consecutive failures)──► open ──(cool-down over: the next dial is the probe)──►
    half_open ──probe fails──► open, cool-down doubled (capped)
    half_open / open ──any dial succeeds──► closed

A *failure* is anything that shows the gateway sick: 5xx, read/connect timeouts, connection errors,
429/503 past the client's in-place retries. A 4xx answer is the gateway working (the request was
wrong), so it is not one; refused credentials pause the campaign instead (`rejection_streak`).
While the breaker is open, dials hold without touching pacing or the retry policy, and refused
dial-outs are not charged to contacts: the gateway's sickness is not theirs.

Redis is not the source of truth: a wiped breaker reads as closed, and the next failures open it
again. Every transition is one Lua script, so two workers can never both take the probe.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import cast

import redis

from campaign.domain.reasons import Waiting

_PERMIT = """
local key, member, probe_ms = KEYS[1], ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', key, 'state', 'opened_at', 'next_probe', 'probe', 'probe_until')
if b[1] ~= 'open' and b[1] ~= 'half_open' then
  return {'closed', 'closed', '0', '0'}
end
if b[1] == 'open' and now < tonumber(b[3]) then
  return {'hold', 'open', b[2], b[3]}
end
if b[1] == 'half_open' and b[4] ~= member and now < tonumber(b[5]) then
  return {'hold', 'half_open', b[2], b[5]}
end
redis.call('HSET', key, 'state', 'half_open', 'probe', member, 'probe_until', now + probe_ms)
return {'probe', 'half_open', b[2], tostring(now + probe_ms)}
"""

_FAILURE = """
local key, member = KEYS[1], ARGV[1]
local threshold, base, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', key, 'state', 'failures', 'cooldown', 'probe', 'opened_at')
local failures = tonumber(b[2] or '0') + 1
local state = b[1] or 'closed'
local opened = '0'
if state == 'half_open' and b[4] == member then
  local cooldown = math.min(tonumber(b[3]) * 2, cap)
  redis.call('HSET', key, 'state', 'open', 'failures', failures, 'cooldown', cooldown,
             'next_probe', now + cooldown, 'probe', '')
elseif state == 'closed' and failures >= threshold then
  redis.call('HSET', key, 'state', 'open', 'failures', failures, 'cooldown', base,
             'opened_at', now, 'next_probe', now + base)
  opened = '1'
else
  redis.call('HSET', key, 'state', state, 'failures', failures)
end
redis.call('PEXPIRE', key, cap * 4 + 3600000)
local s = redis.call('HMGET', key, 'state', 'opened_at', 'next_probe')
return {s[1], s[2] or '0', s[3] or '0', opened}
"""

# The dial path's one call on success: close the breaker, end the rejection streak, and say
# whether the breaker was open (so the closing is reported once, by the dial that closed it).
_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state')
redis.call('DEL', KEYS[1], KEYS[2])
if state == 'open' or state == 'half_open' then return 1 end
return 0
"""


class BreakerState(StrEnum):
    """Where a gateway's breaker stands; `hold` is what a dial hears while it is open."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Breaker:
    """A reading of one gateway's breaker: `since` it opened, `until` the next probe may go."""

    gateway: str
    state: BreakerState
    since: datetime | None = None
    until: datetime | None = None
    just_opened: bool = False  # this reading is the failure that opened it (closed → open)

    @property
    def open(self) -> bool:
        return self.state is not BreakerState.CLOSED

    def reason(self) -> str:
        """What `status` shows for the contacts this breaker holds: since when, until when."""
        held = Waiting.GATEWAY_UNAVAILABLE.value
        return f"{held} since {_iso(self.since)}, next probe at {_iso(self.until)}"


@dataclass(frozen=True)
class Permit:
    """The breaker's answer to one dial: go (`probe` if it is the one trial call), or hold."""

    hold: Breaker | None = None
    probe: bool = False


def gateway_id(base_url: str, trunk: str | None) -> str:
    """One gateway: the dial-out host and the carrier trunk (each trunk can fail on its own)."""
    return f"{base_url.rstrip('/')}#{trunk or 'default'}"


class GatewayBreaker:
    """The breakers of every gateway this engine dials, in Redis under `prefix`."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        threshold: int,
        cooldown_s: float,
        max_cooldown_s: float,
        probe_ttl_s: float,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._threshold = threshold
        self._cooldown_ms = int(cooldown_s * 1000)
        self._max_cooldown_ms = int(max(cooldown_s, max_cooldown_s) * 1000)
        self._probe_ms = int(probe_ttl_s * 1000)
        self._permit = client.register_script(_PERMIT)
        self._failure = client.register_script(_FAILURE)
        self._success = client.register_script(_SUCCESS)

    def _key(self, gateway: str) -> str:
        return f"{self._prefix}:breaker:{gateway}"

    def permit(self, gateway: str, member: str) -> Permit:
        """May `member` dial now? When the cool-down is over, the first dial asking is the probe
        (until it reports, or for `probe_ttl_s` if its worker died); every other one holds."""
        verdict, state, since, until = self._permit(
            keys=[self._key(gateway)], args=[member, self._probe_ms]
        )
        if verdict == b"closed":
            return Permit()
        reading = _reading(gateway, BreakerState(state.decode()), since, until)
        return Permit(hold=reading) if verdict == b"hold" else Permit(probe=True)

    def failure(self, gateway: str, member: str) -> Breaker:
        """Count a failure that shows the gateway sick; returns the breaker after it."""
        state, since, until, opened = self._failure(
            keys=[self._key(gateway)],
            args=[member, self._threshold, self._cooldown_ms, self._max_cooldown_ms],
        )
        reading = _reading(gateway, BreakerState(state.decode()), since, until)
        return replace(reading, just_opened=opened == b"1")

    def success(self, gateway: str, campaign_id: int) -> bool:
        """The gateway placed a call: close its breaker and end the campaign's rejection streak
        (one script call; a no-op when both were clear). True when the breaker was open."""
        keys = [self._key(gateway), self._rejected_key(campaign_id)]
        return bool(self._success(keys=keys))

    def rejected(self, campaign_id: int) -> int:
        """Count a campaign's consecutive refused requests (4xx); returns the streak.

        Not a breaker failure: a 4xx means the gateway works and our request (bot id, body) is
        wrong, which only the operator can fix, so a long streak pauses that campaign. Losing the
        count to a Redis wipe only delays that pause.
        """
        key = self._rejected_key(campaign_id)
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, 3600)
        count, _ = pipe.execute()
        return int(count)

    def _rejected_key(self, campaign_id: int) -> str:
        return f"{self._prefix}:rejected:{campaign_id}"

    def read(self, gateway: str) -> Breaker:
        """The breaker as it stands, without changing it (dispatcher, status, metrics)."""
        fields = ["state", "opened_at", "next_probe", "probe_until"]
        state, since, until, probe_until = cast(
            list[bytes | None], self._redis.hmget(self._key(gateway), fields)
        )
        if state not in (b"open", b"half_open"):
            return Breaker(gateway, BreakerState.CLOSED)
        until = probe_until if state == b"half_open" else until
        return _reading(gateway, BreakerState(state.decode()), since, until)


def _reading(gateway: str, state: BreakerState, since: object, until: object) -> Breaker:
    if state is BreakerState.CLOSED:
        return Breaker(gateway, state)
    return Breaker(gateway, state, _from_ms(since), _from_ms(until))


def _from_ms(value: object) -> datetime | None:
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    return datetime.fromtimestamp(float(text) / 1000, UTC) if float(text) > 0 else None


def _iso(at: datetime | None) -> str:
    return "?" if at is None else at.isoformat(timespec="seconds")
