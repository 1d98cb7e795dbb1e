"""Redis sink for the cart read model: one JSON value per cart, written by a Lua
compare-and-set, plus a set of cart ids per customer.

Keys (all under the deployment's namespace):

- ``<namespace>:cart:<cart id>`` → the cart view as JSON (``projections.carts``);
- ``<namespace>:customer-carts:<customer id>`` → a set of the customer's open cart ids.

A batch is applied by reading the current carts, folding each cart's events in order
with the pure ``carts.fold``, and writing with the CAS script, which stores the new JSON
only if the stored version is lower: a redelivered or out-of-order event never regresses a
cart, and two writers racing on one cart cannot lose an event (the loser re-reads and
folds again). The customer set is a hint maintained after the cart writes (SADD while open,
SREM after checkout, both idempotent); readers confirm every member against the cart value,
so the set may lag but never misleads. The two keys hash to different cluster slots, which
is why the set is not written inside the script.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis

from contract.envelope import Envelope
from projections import carts
from projections.carts import CartView
from projections.projector import StoreProjector

log = logging.getLogger(__name__)
CARTS = "carts"
MAX_ATTEMPTS = 10
_NEVER = datetime.min.replace(tzinfo=UTC)

# KEYS[1] the cart key; ARGV[1] the new JSON, ARGV[2] its version, ARGV[3] "1" to replace an
# equal version too (a rebuild's state from the event store is authoritative).
CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current then
  local stored = tonumber(cjson.decode(current)['version'])
  local new = tonumber(ARGV[2])
  if stored > new or (stored == new and ARGV[3] ~= '1') then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""


class CartWriteFailed(RuntimeError):
    pass


def encode(cart: CartView) -> str:
    return json.dumps(cart, separators=(",", ":"), sort_keys=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class CartStore:
    """The carts read model in Redis: version-guarded writes and the reads the API needs."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.namespace = namespace
        self._cas = redis.register_script(CAS_SCRIPT)

    def cart_key(self, cart_id: str) -> str:
        return f"{self.namespace}:cart:{cart_id}"

    def customer_key(self, customer_id: str) -> str:
        return f"{self.namespace}:customer-carts:{customer_id}"

    async def ensure(self) -> None:
        """Check Redis answers and load the script (EVALSHA would also load it lazily)."""
        await self.redis.script_load(CAS_SCRIPT)

    # --- reads ---------------------------------------------------------------------------

    async def get(self, cart_id: str) -> CartView | None:
        return (await self.get_many([cart_id]))[cart_id]

    async def get_many(self, cart_ids: Sequence[str]) -> dict[str, CartView | None]:
        if not cart_ids:
            return {}
        values = await self.redis.mget([self.cart_key(i) for i in cart_ids])
        return {
            cart_id: json.loads(value) if value is not None else None
            for cart_id, value in zip(cart_ids, values, strict=True)
        }

    async def open_cart_of(self, customer_id: str) -> CartView | None:
        """The customer's current open cart: the open one changed last, if any."""
        members = await self.redis.smembers(self.customer_key(customer_id))
        candidates = await self.get_many(sorted(_text(m) for m in members))
        open_carts = [
            cart
            for cart in candidates.values()
            if cart is not None
            and cart["status"] == carts.OPEN
            and cart["customer_id"] == customer_id
        ]
        return max(open_carts, key=_recency, default=None)

    async def ids(self) -> set[str]:
        """Every cart id held for this namespace."""
        prefix = self.cart_key("")
        return {_text(key)[len(prefix) :] async for key in self.redis.scan_iter(prefix + "*")}

    # --- writes --------------------------------------------------------------------------

    async def write(self, cart: CartView, *, authoritative: bool = False) -> bool:
        """Store ``cart`` unless a newer version is stored (or an equal one, unless
        ``authoritative``); return whether it was written."""
        (written,) = await self.write_many([cart], authoritative=authoritative)
        return written

    async def write_many(
        self, views: Sequence[CartView], *, authoritative: bool = False
    ) -> list[bool]:
        """``write`` for several carts in one pipeline (one round trip, one connection)."""
        if not views:
            return []
        flag = "1" if authoritative else "0"
        async with self.redis.pipeline(transaction=False) as pipe:
            for cart in views:
                await self._cas(
                    keys=[self.cart_key(cart["id"])],
                    args=[encode(cart), cart["version"], flag],
                    client=pipe,  # queued; the pipeline loads the script if Redis lacks it
                )
            results = await pipe.execute()
        return [bool(written) for written in results]

    async def apply(self, envelopes: Sequence[Envelope]) -> int:
        """Apply a batch (in order per cart); return how many carts changed."""
        pending: dict[str, list[Envelope]] = defaultdict(list)
        for envelope in envelopes:
            pending[envelope.aggregate_id].append(envelope)
        changed = 0
        latest: dict[str, CartView] = {}
        for _ in range(MAX_ATTEMPTS):
            if not pending:
                break
            current = await self.get_many(list(pending))
            writes: dict[str, CartView] = {}
            for cart_id, events in pending.items():
                before = current[cart_id]
                after = carts.fold(before, events)
                if after is not None:
                    writes[cart_id] = after
                elif before is not None:  # every event was a duplicate
                    latest[cart_id] = before
            results = await self.write_many(list(writes.values()))
            refused: dict[str, list[Envelope]] = {}
            for (cart_id, cart), written in zip(writes.items(), results, strict=True):
                if written:
                    latest[cart_id] = cart
                    changed += 1
                else:  # someone stored a newer version meanwhile: re-read and fold again
                    log.debug("cart %s: a newer version is stored; folding again", cart_id)
                    refused[cart_id] = pending[cart_id]
            pending = refused
        if pending:
            raise CartWriteFailed(f"carts {sorted(pending)} kept conflicting")
        await self.index(latest.values())
        return changed

    async def index(self, views: Iterable[CartView]) -> None:
        """Keep the customer sets in step with these (stored) carts; idempotent."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for cart in views:
                if cart["customer_id"] is None:
                    continue
                key = self.customer_key(cart["customer_id"])
                if cart["status"] == carts.OPEN:
                    pipe.sadd(key, cart["id"])
                else:
                    pipe.srem(key, cart["id"])
            await pipe.execute()

    async def delete(self, cart_ids: Iterable[str]) -> None:
        keys = [self.cart_key(i) for i in cart_ids]
        if keys:
            await self.redis.delete(*keys)

    async def prune_index(self) -> None:
        """Drop set members that are not (or no longer) that customer's open cart."""
        prefix = self.customer_key("")
        async for raw_key in self.redis.scan_iter(prefix + "*"):
            key = _text(raw_key)
            customer_id = key[len(prefix) :]
            members = await self.redis.smembers(key)
            held = await self.get_many(sorted(_text(m) for m in members))
            stray = [
                cart_id
                for cart_id, cart in held.items()
                if cart is None
                or cart["status"] != carts.OPEN
                or cart["customer_id"] != customer_id
            ]
            if stray:
                await self.redis.srem(key, *stray)


def _recency(cart: CartView) -> tuple[datetime, str]:
    updated = cart["updated_at"]
    return (datetime.fromisoformat(updated) if updated else _NEVER, cart["id"])


class CartsProjector(StoreProjector):
    """The carts read model as the worker runs it."""

    name = CARTS

    def __init__(self, redis: Redis, namespace: str) -> None:
        super().__init__(CartStore(redis, namespace), redis.aclose)

    def check(self, envelope: Envelope) -> None:
        carts.apply(None, envelope)
