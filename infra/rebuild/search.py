"""The products index is rebuilt into a new index while searches keep using the old one:

1. fill the new index from every followed log up to its head;
2. move the alias to the new index in one atomic alias update (from here on the live
   projector writes into the new index);
3. apply each log from its position of step 1 to its head again, into the new index:
   whatever the projector wrote only into the old index before the swap is applied here.

Every write is version-guarded, so events applied twice (by step 3 and the projector)
change nothing. The old index is deleted at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from elasticsearch import AsyncElasticsearch, NotFoundError

from infra.rebuild import Logs, Rebuilt
from infra.settings import Settings
from projections.sinks.product_index import ProductIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwapIndexBehindAlias:
    client: Callable[[Settings], AsyncElasticsearch]

    async def __call__(
        self, settings: Settings, logs: Logs, contexts: tuple[str, ...], name: str
    ) -> Rebuilt:
        es, alias = self.client(settings), settings.products_alias
        try:
            new_index = await ProductIndex(es, alias).create_index(make_write_alias=False)
            target = ProductIndex(es, new_index)
            filled = {context: await _apply(logs, context, target, 0) for context in contexts}
            await es.indices.refresh(index=new_index)
            old = await _indices_behind(es, alias)
            actions = [{"add": {"index": new_index, "alias": alias, "is_write_index": True}}]
            actions += [{"remove": {"index": index, "alias": alias}} for index in old]
            await es.indices.update_aliases(actions=actions)
            caught_up = {c: await _apply(logs, c, target, p) for c, (p, _) in filled.items()}
            for index in old:
                with suppress(NotFoundError):  # another rebuild removed it already
                    await es.indices.delete(index=index)
        finally:
            await es.close()
        events = sum(count for _, count in filled.values())
        log.info(
            "%s: rebuilt %s from %d events (%d more after the swap)",
            name,
            new_index,
            events,
            sum(count for _, count in caught_up.values()),
        )
        return Rebuilt(
            {c: position for c, (position, _) in caught_up.items()},
            events,
            f"rebuilt into {new_index}",
        )


async def _apply(logs: Logs, context: str, target: ProductIndex, after: int) -> tuple[int, int]:
    """Apply the log after ``after`` to its head; the last position and the count."""
    position, total = after, 0
    for last, batch in logs.batches(context, after):
        await target.apply(batch)
        position, total = last, total + len(batch)
    return position, total


async def _indices_behind(es: AsyncElasticsearch, alias: str) -> list[str]:
    if not await es.indices.exists_alias(name=alias):
        return []
    return list((await es.indices.get_alias(name=alias)).keys())
