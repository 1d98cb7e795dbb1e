"""Token buckets in Redis, refilled continuously; one Lua script, so check-and-take is atomic
across any number of API processes. Time comes from the Redis server (``TIME``), not from
the callers' clocks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS: the buckets, in order, then optionally a user's not-before key (ADR 0033); ARGV:
# the number of buckets, then rate per second, burst and cost for each, then the token's
# issue time in ms. Buckets are taken from in order and the first that refuses stops the
# rest (a request refused per address costs its user nothing); a revoked token costs only
# the first bucket. Returns {allowed, retry_after_ms, revoked}.
_TAKE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local buckets = tonumber(ARGV[1])
local revoked = 0
if #KEYS > buckets then
  local not_before = tonumber(redis.call('GET', KEYS[buckets + 1]))
  if not_before ~= nil and tonumber(ARGV[buckets * 3 + 2]) < not_before then
    revoked = 1
    buckets = 1
  end
end
for i = 1, buckets do
  local key = KEYS[i]
  local rate = tonumber(ARGV[i * 3 - 1])
  local burst = tonumber(ARGV[i * 3])
  local cost = tonumber(ARGV[i * 3 + 1])
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(bucket[1])
  local at = tonumber(bucket[2])
  if tokens == nil or at == nil then
    tokens = burst
    at = now_ms
  end
  tokens = math.min(burst, tokens + math.max(0, now_ms - at) * rate / 1000)
  local allowed = tokens >= cost
  if allowed then
    tokens = tokens - cost
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now_ms))
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
  if not allowed then
    return {0, math.ceil((cost - tokens) * 1000 / rate), revoked}
  end
end
return {1, 0, revoked}
"""


@dataclass(frozen=True)
class Limit:
    per_second: float
    burst: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: float
    # Asked with ``revoked_if``: whether the token was issued before the user's not-before;
    # None when Redis did not answer (the caller asks the durable record).
    revoked: bool | None = False


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._take = redis.register_script(_TAKE)

    async def take(self, key: str, limit: Limit, cost: int = 1) -> Verdict:
        """Take ``cost`` tokens from bucket ``key``."""
        return await self.take_all([(key, limit)], cost)

    async def take_all(
        self,
        buckets: Sequence[tuple[str, Limit]],
        cost: int = 1,
        revoked_if: tuple[str, int] | None = None,
    ) -> Verdict:
        """Take ``cost`` tokens from each bucket in order, in one round trip; the first that
        refuses decides. ``revoked_if`` (a not-before key and a token's issue time in ms)
        also says whether the token is revoked, in the same round trip. Redis down: allowed
        (logged), since the limit protects the service and must not be what takes it down;
        ``revoked`` is then None."""
        args: list[float | int] = [len(buckets)]
        for _, limit in buckets:
            args += [limit.per_second, limit.burst, cost]
        keys = [f"{self.prefix}:rl:{key}" for key, _ in buckets]
        if revoked_if is not None:
            keys.append(revoked_if[0])
            args.append(revoked_if[1])
        try:
            allowed, retry_ms, revoked = await self._take(keys=keys, args=args)
        except RedisError:
            log.warning("rate limiter unavailable; request let through", exc_info=True)
            return Verdict(True, 0.0, None)
        return Verdict(bool(allowed), int(retry_ms) / 1000, bool(revoked))
