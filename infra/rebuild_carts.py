"""Rebuild the carts read model in Redis from the event store (never from Kafka).

Carts are replaced in place rather than deleted first: a live projector that found a cart
key missing would start it from whatever event it holds next, and that partial cart could
then outrank the rebuild. So the rebuild

1. folds the carts context's whole log into one view per cart, in memory;
2. writes every view *authoritatively*: the CAS script replaces a stored cart of the same
   or a lower version (repairing gaps a dead-lettered event left) and refuses only a newer
   one, which the live projector wrote from events appended since step 1;
3. reads the log on from where step 1 stopped and rewrites the refused carts, until none
   is refused (a projector cannot stay ahead of a log read to its head for long);
4. clears what the event store does not know: cart keys of no aggregate in the log and
   customer-set members that are not that customer's open cart.

The result equals "delete everything, then replay", without a window of missing or
partial carts for readers and the live projector.
"""

from __future__ import annotations

import logging
from uuid import UUID

from redis.asyncio import Redis

from commands.base import ShopApplication
from infra import bootstrap
from infra.settings import Settings
from projections import carts
from projections.carts import CartView
from projections.sinks.redis_carts import CartStore
from streams.relay import envelopes

log = logging.getLogger(__name__)
_BATCH = 1000
_MAX_PASSES = 10


class RebuildDidNotConverge(RuntimeError):
    pass


async def rebuild_carts(settings: Settings, redis: Redis | None = None) -> int:
    """Rebuild this namespace's carts read model; return how many carts it holds."""
    client = redis if redis is not None else Redis.from_url(settings.redis_url)
    store = CartStore(client, settings.namespace)
    app = bootstrap.application(settings, "carts")
    try:
        views: dict[str, CartView] = {}
        position, to_write = _fold_log(app, views, after=0)
        for _ in range(_MAX_PASSES):
            refused = await _write(store, [views[i] for i in sorted(to_write)])
            if not refused:
                break
            position, touched = _fold_log(app, views, after=position)
            to_write = touched | refused
        else:
            raise RebuildDidNotConverge(f"carts {sorted(to_write)} stayed ahead of the log")
        orphans = [i for i in await store.cart_ids() - set(views) if not _exists(app, i)]
        await store.delete(orphans)
        stored = await store.get_many(sorted(views))
        await store.index(view for view in stored.values() if view is not None)
        await store.prune_index()
    finally:
        app.close()
        if redis is None:
            await client.aclose()
    log.info(
        "carts: rebuilt %d carts up to position %d (%d orphans removed)",
        len(views),
        position,
        len(orphans),
    )
    return len(views)


def _fold_log(app: ShopApplication, views: dict[str, CartView], after: int) -> tuple[int, set[str]]:
    """Fold the log after ``after`` into ``views``; return the last position and the carts
    it changed."""
    position, touched = after, set[str]()
    while notifications := app.recorder.select_notifications(
        start=position, limit=_BATCH, inclusive_of_start=False
    ):
        for envelope in envelopes(app, notifications):
            cart_id = envelope.aggregate_id
            changed = carts.apply(views.get(cart_id), envelope)
            if changed is not None:
                views[cart_id] = changed
                touched.add(cart_id)
        position = notifications[-1].id
    return position, touched


async def _write(store: CartStore, views: list[CartView]) -> set[str]:
    """Write views authoritatively; return the ids refused because a newer one is stored."""
    refused: set[str] = set()
    for start in range(0, len(views), _BATCH):
        chunk = views[start : start + _BATCH]
        written = await store.write_many(chunk, authoritative=True)
        refused.update(v["id"] for v, ok in zip(chunk, written, strict=True) if not ok)
    return refused


def _exists(app: ShopApplication, cart_id: str) -> bool:
    """Whether the event store has the cart (created after the log was read, perhaps)."""
    try:
        originator = UUID(cart_id)
    except ValueError:
        return False
    return bool(app.recorder.select_events(originator, limit=1))
