"""Rebuild read models from the event store (never from Kafka).

The products index is rebuilt into a new index while searches keep using the old one:

1. fill the new index from the catalog's and the inventory's logs up to their heads;
2. move the alias to the new index in one atomic alias update (from here on the live
   projector writes into the new index);
3. apply each log from its position of step 1 to its head again, into the new index:
   whatever the projector wrote only into the old index before the swap is applied here.

Every write is version-guarded, so events applied twice (by step 3 and the projector)
change nothing. The old index is deleted at the end.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from elasticsearch import AsyncElasticsearch, NotFoundError

from commands.base import ShopApplication
from infra import bootstrap
from infra.settings import Settings
from projections.product_search import SOURCES
from projections.sinks.product_index import ProductIndex
from streams.relay import envelopes

log = logging.getLogger(__name__)
_BATCH = 1000


async def rebuild_product_index(settings: Settings, es: AsyncElasticsearch) -> str:
    """Rebuild the products read model behind its alias; return the new index's name."""
    alias = settings.products_alias
    new_index = await ProductIndex(es, alias).create_index(make_write_alias=False)
    target = ProductIndex(es, new_index)
    applications = [bootstrap.application(settings, context) for context in SOURCES]
    try:
        filled = [await _apply_log(app, target, after=0) for app in applications]
        await es.indices.refresh(index=new_index)
        old = await _indices_behind(es, alias)
        actions = [{"add": {"index": new_index, "alias": alias, "is_write_index": True}}]
        actions += [{"remove": {"index": index, "alias": alias}} for index in old]
        await es.indices.update_aliases(actions=actions)
        caught_up = [
            await _apply_log(app, target, after=position)
            for app, (position, _) in zip(applications, filled, strict=True)
        ]
    finally:
        for app in applications:
            app.close()
    for index in old:
        with suppress(NotFoundError):  # another rebuild removed it already
            await es.indices.delete(index=index)
    log.info(
        "products: rebuilt %s from %d events (%d more after the swap)",
        new_index,
        sum(count for _, count in filled),
        sum(count for _, count in caught_up),
    )
    return new_index


async def _apply_log(app: ShopApplication, target: ProductIndex, after: int) -> tuple[int, int]:
    """Apply the log after ``after`` to its head; return the last position and the count."""
    position, total = after, 0
    while notifications := app.recorder.select_notifications(
        start=position, limit=_BATCH, inclusive_of_start=False
    ):
        await target.apply(envelopes(app, notifications))
        position = notifications[-1].id
        total += len(notifications)
    return position, total


async def _indices_behind(es: AsyncElasticsearch, alias: str) -> list[str]:
    if not await es.indices.exists_alias(name=alias):
        return []
    return list((await es.indices.get_alias(name=alias)).keys())
