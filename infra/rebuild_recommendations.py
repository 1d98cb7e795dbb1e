"""Rebuild the recommendations in Redis from the orders event store (never from Kafka).

Counts cannot be replaced in place the way carts are, so the rebuild pauses the live
projector instead: it raises the ``rebuilding`` flag, which the projector's script checks
atomically (its batch then fails and the worker retries it later); deletes the old keys;
replays the orders log through the same script; and lowers the flag. What the projector
retries afterwards is version-guarded, so nothing counts twice. Queries answer from partial
data while the rebuild runs (seconds for a shop's order log).
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from infra import bootstrap
from infra.settings import Settings
from projections.sinks.redis_recommendations import RecommendationStore
from streams.relay import envelopes

log = logging.getLogger(__name__)
_BATCH = 1000
_FLAG_SECONDS = 600  # a crashed rebuild must not pause the projector for ever


async def rebuild_recommendations(settings: Settings, redis: Redis | None = None) -> int:
    """Rebuild this namespace's recommendations; return the position rebuilt up to."""
    client = redis if redis is not None else Redis.from_url(settings.redis_url)
    store = RecommendationStore(client, settings.namespace)
    app = bootstrap.application(settings, "orders")
    position = total = 0
    try:
        await client.set(store.rebuilding_key, "1", ex=_FLAG_SECONDS)
        await store.clear()
        while notifications := app.recorder.select_notifications(
            start=position, limit=_BATCH, inclusive_of_start=False
        ):
            await client.expire(store.rebuilding_key, _FLAG_SECONDS)
            await store.apply(envelopes(app, notifications), rebuild=True)
            position = notifications[-1].id
            total += len(notifications)
    finally:
        await client.delete(store.rebuilding_key)
        app.close()
        if redis is None:
            await client.aclose()
    log.info("recommendations: rebuilt from %d events up to position %d", total, position)
    return position
