"""Token buckets in Redis, refilled continuously; one Lua script, so check-and-take is atomic
across any number of API processes. Time comes from the Redis server (``TIME``), not from
the callers' clocks."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV rate per second, burst, cost. Returns {allowed, retry_after_ms}.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1])
local at = tonumber(bucket[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now_ms
end
tokens = math.min(burst, tokens + math.max(0, now_ms - at) * rate / 1000)
local allowed = 0
local retry_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry_ms = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now_ms))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, retry_ms}
"""


@dataclass(frozen=True)
class Limit:
    per_second: float
    burst: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: float


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._take = redis.register_script(_TAKE)

    async def take(self, key: str, limit: Limit, cost: int = 1) -> Verdict:
        """Take ``cost`` tokens from bucket ``key``. Redis down: allowed (logged), since the
        limit protects the service and must not be what takes it down."""
        try:
            allowed, retry_ms = await self._take(
                keys=[f"{self.prefix}:rl:{key}"], args=[limit.per_second, limit.burst, cost]
            )
        except RedisError:
            log.warning("rate limiter unavailable; request let through", exc_info=True)
            return Verdict(True, 0.0)
        return Verdict(bool(allowed), int(retry_ms) / 1000)
