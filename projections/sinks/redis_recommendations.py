"""Redis sink for recommendations: sorted sets of counts, changed by one Lua script per event.

Keys (one hash tag per deployment, so a script's keys share a cluster slot):

- ``{<ns>:reco}:order:<order id>`` → hash: customer, products (JSON), state
  (``placed``/``counted``/``cancelled``) and the order's version;
- ``{<ns>:reco}:also:<product id>`` → sorted set: other product id → orders with both;
- ``{<ns>:reco}:bought:<customer id>`` → sorted set: product id → confirmed orders with it;
- ``{<ns>:reco}:popular`` → sorted set: product id → confirmed orders with it;
- ``{<ns>:reco}:rebuilding`` → set while a rebuild runs; live writes wait for it.

The script applies a step only if its version is above the order's stored version, and
changes the counts only on the moves placed → counted (+1) and counted → cancelled (-1),
all in one atomic call: a redelivered, replayed or out-of-order event counts nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from contract.envelope import Envelope
from projections import recommendations
from projections.projector import StoreProjector
from projections.recommendations import Step

RECOMMENDATIONS = "recommendations"
# Candidates read per product when summing a customer's history; enough for a page.
FAN_OUT = 50
HISTORY_USED = 20

# KEYS[1] order hash; ARGV: 1 key prefix, 2 version, 3 op, 4 customer, 5 products (JSON),
# 6 "1" when the rebuild itself writes. Returns 1 applied, 0 duplicate, -1 rebuild running.
SCRIPT = """
local prefix = ARGV[1]
if ARGV[6] ~= '1' and redis.call('EXISTS', prefix .. 'rebuilding') == 1 then
  return -1
end
local version = tonumber(ARGV[2])
local stored = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if stored >= version then
  return 0
end
local op = ARGV[3]
local state = redis.call('HGET', KEYS[1], 'state')

local function count(delta)
  local customer = redis.call('HGET', KEYS[1], 'customer')
  local products = cjson.decode(redis.call('HGET', KEYS[1], 'products'))
  local touched = {prefix .. 'bought:' .. customer, prefix .. 'popular'}
  for _, p in ipairs(products) do
    redis.call('ZINCRBY', touched[1], delta, p)
    redis.call('ZINCRBY', touched[2], delta, p)
    local also = prefix .. 'also:' .. p
    table.insert(touched, also)
    for _, q in ipairs(products) do
      if q ~= p then
        redis.call('ZINCRBY', also, delta, q)
      end
    end
  end
  if delta < 0 then
    for _, key in ipairs(touched) do
      redis.call('ZREMRANGEBYSCORE', key, '-inf', 0)
    end
  end
end

if op == 'placed' then
  redis.call('HSET', KEYS[1], 'state', 'placed', 'customer', ARGV[4], 'products', ARGV[5])
elseif op == 'confirm' and state == 'placed' then
  count(1)
  redis.call('HSET', KEYS[1], 'state', 'counted')
elseif op == 'cancel' then
  if state == 'counted' then
    count(-1)
  end
  redis.call('HSET', KEYS[1], 'state', 'cancelled')
end
redis.call('HSET', KEYS[1], 'version', version)
return 1
"""


class RebuildRunning(RuntimeError):
    """The recommendations are being rebuilt; the worker retries the batch afterwards."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RecommendationStore:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.prefix = f"{{{namespace}:reco}}:"
        self._script = redis.register_script(SCRIPT)

    @property
    def rebuilding_key(self) -> str:
        return self.prefix + "rebuilding"

    async def ensure(self) -> None:
        await self.redis.script_load(SCRIPT)

    # --- writes --------------------------------------------------------------------------

    async def apply(self, envelopes: Sequence[Envelope], *, rebuild: bool = False) -> int:
        """Apply a batch in order; return how many steps changed something."""
        steps = [s for e in envelopes if (s := recommendations.step_of(e)) is not None]
        if not steps:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for step in steps:
                await self._call(pipe, step, rebuild)
            results = await pipe.execute()
        if any(int(r) < 0 for r in results):
            raise RebuildRunning("recommendations are being rebuilt; retrying later")
        return sum(1 for r in results if int(r) > 0)

    async def _call(self, client: Any, step: Step, rebuild: bool) -> None:
        await self._script(
            keys=[self.prefix + "order:" + step.order_id],
            args=[
                self.prefix,
                step.version,
                step.op,
                step.customer_id,
                json.dumps(list(step.products)),
                "1" if rebuild else "0",
            ],
            client=client,
        )

    async def clear(self) -> None:
        """Delete every key of this deployment's recommendations but the rebuild flag."""
        async for key in self.redis.scan_iter(self.prefix + "*"):
            if _text(key) != self.rebuilding_key:
                await self.redis.delete(key)

    # --- reads ---------------------------------------------------------------------------

    async def also_bought(self, product_id: str, limit: int) -> list[tuple[str, float]]:
        return await self._top(self.prefix + "also:" + product_id, limit)

    async def bought(self, customer_id: str) -> list[tuple[str, float]]:
        return await self._top(self.prefix + "bought:" + customer_id, -1)

    async def popular(self, limit: int) -> list[tuple[str, float]]:
        return await self._top(self.prefix + "popular", limit)

    async def for_customer(self, customer_id: str, limit: int) -> tuple[str, list[str]]:
        """Product ids for the customer, best first, and the basis: what co-purchases of
        their history score (minus what they bought), or what sells most for a newcomer."""
        history = await self.bought(customer_id)
        owned = {product for product, _ in history}
        if not history:
            return "popular", [p for p, _ in await self.popular(limit)]
        scores: dict[str, float] = {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for product, _ in history[:HISTORY_USED]:
                pipe.zrevrange(self.prefix + "also:" + product, 0, FAN_OUT - 1, withscores=True)
            for ranked in await pipe.execute():
                for member, score in ranked:
                    product = _text(member)
                    if product not in owned:
                        scores[product] = scores.get(product, 0.0) + float(score)
        ranked_ids = sorted(scores, key=lambda p: (-scores[p], p))
        return "history", ranked_ids[:limit]

    async def _top(self, key: str, limit: int) -> list[tuple[str, float]]:
        stop = -1 if limit < 0 else limit - 1
        pairs: list[Any] = await self.redis.zrevrange(key, 0, stop, withscores=True)
        return [(_text(member), float(score)) for member, score in pairs]


class RecommendationsProjector(StoreProjector):
    """The recommendations read model as the worker runs it."""

    name = RECOMMENDATIONS

    def __init__(self, redis: Redis, namespace: str) -> None:
        super().__init__(RecommendationStore(redis, namespace), redis.aclose)

    def check(self, envelope: Envelope) -> None:
        recommendations.step_of(envelope)
