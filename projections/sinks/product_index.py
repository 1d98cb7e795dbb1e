"""Elasticsearch sink for product documents: batched, version-guarded, conflict-safe.

Reads the current documents, folds the batch into them with the pure
``product_search.apply``, and writes back under optimistic concurrency
(``if_seq_no``/``if_primary_term``, or ``create`` for new ones). A conflict means another
projector wrote the same product meanwhile: those products are re-read and retried.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import AsyncElasticsearch

from contract.envelope import Envelope
from projections import product_search
from projections.projector import StoreProjector

log = logging.getLogger(__name__)
PRODUCT_SEARCH = "product-search"
MAX_ATTEMPTS = 10


class IndexWriteFailed(RuntimeError):
    pass


class ProductIndex:
    def __init__(self, es: AsyncElasticsearch, alias: str) -> None:
        self.es = es
        self.alias = alias

    async def ensure(self) -> None:
        """Create the first index behind the alias unless the alias already exists."""
        if await self.es.indices.exists_alias(name=self.alias):
            return
        await self.create_index(make_write_alias=True)

    async def create_index(self, *, make_write_alias: bool) -> str:
        name = f"{self.alias}-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
        aliases: dict[str, Any] = {self.alias: {}} if make_write_alias else {}
        await self.es.indices.create(
            index=name, mappings=product_search.PRODUCTS_MAPPING, aliases=aliases
        )
        return name

    async def apply(self, envelopes: Sequence[Envelope], *, refresh: bool = False) -> int:
        """Apply a batch; return how many documents changed."""
        pending: dict[str, list[Envelope]] = defaultdict(list)
        for envelope in envelopes:
            pending[envelope.aggregate_id].append(envelope)
        changed = 0
        for _ in range(MAX_ATTEMPTS):
            if not pending:
                return changed
            written, conflicted = await self._write(pending, refresh=refresh)
            changed += written
            pending = {doc_id: pending[doc_id] for doc_id in conflicted}
        raise IndexWriteFailed(f"products {sorted(pending)} kept conflicting")

    async def _write(
        self, pending: dict[str, list[Envelope]], *, refresh: bool
    ) -> tuple[int, list[str]]:
        current = await self.es.mget(index=self.alias, ids=list(pending))
        operations: list[dict[str, Any]] = []
        for hit in current["docs"]:
            doc_id = hit["_id"]
            before = hit["_source"] if hit.get("found") else None
            after = before
            for envelope in pending[doc_id]:
                after = product_search.apply(after, envelope) or after
            if after is before:
                continue  # every event was a duplicate
            if before is None:
                operations.append({"create": {"_index": self.alias, "_id": doc_id}})
            else:
                operations.append(
                    {
                        "index": {
                            "_index": hit["_index"],
                            "_id": doc_id,
                            "if_seq_no": hit["_seq_no"],
                            "if_primary_term": hit["_primary_term"],
                        }
                    }
                )
            operations.append(after)  # type: ignore[arg-type]
        if not operations:
            return 0, []
        response = await self.es.bulk(operations=operations, refresh=refresh)
        written, conflicted = 0, []
        for item in response["items"]:
            (result,) = item.values()
            if result["status"] in (200, 201):
                written += 1
            elif result["status"] == 409:
                conflicted.append(result["_id"])
            else:
                raise IndexWriteFailed(f"product {result['_id']}: {result.get('error')}")
        return written, conflicted


class ProductSearchProjector(StoreProjector):
    """The product search read model as the worker runs it."""

    name = PRODUCT_SEARCH

    def __init__(self, es: AsyncElasticsearch, alias: str) -> None:
        super().__init__(ProductIndex(es, alias), es.close)

    def check(self, envelope: Envelope) -> None:
        product_search.apply(None, envelope)
