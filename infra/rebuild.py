"""Rebuild read models from the event store (never from Kafka).

The products index is rebuilt into a new index; the alias moves to it in one atomic
alias update, so searches keep working throughout.
"""

from __future__ import annotations

import logging

from elasticsearch import AsyncElasticsearch

from infra import bootstrap
from infra.settings import Settings
from projections.sinks.product_index import ProductIndex
from streams.relay import envelopes

log = logging.getLogger(__name__)
_BATCH = 1000


async def rebuild_product_index(settings: Settings, es: AsyncElasticsearch) -> str:
    """Fill a fresh index from the catalog's log, point the alias at it; return its name."""
    alias = settings.products_alias
    builder = ProductIndex(es, alias)
    new_index = await builder.create_index(make_write_alias=False)
    target = ProductIndex(es, new_index)
    app = bootstrap.catalog(settings)
    try:
        position, total = 0, 0
        while notifications := app.recorder.select_notifications(
            start=position, limit=_BATCH, inclusive_of_start=False
        ):
            await target.apply(envelopes(app, notifications))
            position = notifications[-1].id
            total += len(notifications)
    finally:
        app.close()
    await es.indices.refresh(index=new_index)
    old = []
    if await es.indices.exists_alias(name=alias):
        old = list((await es.indices.get_alias(name=alias)).keys())
    actions = [{"add": {"index": new_index, "alias": alias}}]
    actions += [{"remove": {"index": index, "alias": alias}} for index in old]
    await es.indices.update_aliases(actions=actions)
    log.info("products: rebuilt %s from %d events up to position %d", new_index, total, position)
    return new_index
