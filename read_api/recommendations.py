"""Recommendations over the Redis read model, shown as products from the search index.

``/products/{id}/recommendations``: what customers who bought this also bought.
``/customers/{id}/recommendations``: co-purchases of what the customer bought, without what
they already own (or the best sellers for a customer with no purchases yet). Both leave out
what is out of stock or no longer sold, as the search index knows it (``in_stock``, ADR 0009).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from elasticsearch import AsyncElasticsearch, NotFoundError
from fastapi import APIRouter, HTTPException, Query, Response

from projections.sinks.redis_recommendations import RecommendationStore
from read_api.consistency import AppliedPosition
from read_api.dependencies import ReadYourWrites
from read_api.product_queries import present
from security.access import CurrentUser, Public, owned

# Ranked candidates fetched per requested item, so filtering stock still fills the page.
OVERFETCH = 4
Limit = Annotated[int, Query(ge=1, le=50, description="how many products at most")]
After = Annotated[
    int | None,
    Query(ge=0, description="an orders position a command returned: wait until it counts"),
]


def router(
    store: RecommendationStore,
    es: AsyncElasticsearch,
    alias: str,
    applied: AppliedPosition,
    wait_seconds: float = 2.0,
) -> APIRouter:
    """``applied`` is the orders position up to which the recommendations are complete."""
    api = APIRouter(tags=["recommendations"])

    consistent = ReadYourWrites(applied, wait_seconds)

    async def sellable(ranked: list[str], limit: int) -> list[dict[str, Any]]:
        """The ranked products that are active and in stock, in rank order."""
        if not ranked:
            return []
        result = await es.search(
            index=alias,
            size=len(ranked),
            query={
                "bool": {
                    "filter": [
                        {"ids": {"values": ranked}},
                        {"term": {"status": "active"}},
                        {"term": {"in_stock": True}},
                    ]
                }
            },
        )
        found = {hit["_id"]: present(hit) for hit in result["hits"]["hits"]}
        return [found[p] for p in ranked if p in found][:limit]

    @api.get("/products/{product_id}/recommendations", dependencies=[Public])
    async def for_product(
        product_id: UUID, response: Response, limit: Limit = 10, after: After = None
    ) -> dict[str, Any]:
        """Customers who bought this also bought: most co-purchased first."""
        consistency = await consistent(after, response)
        try:
            await es.get(index=alias, id=str(product_id), source=False)
        except NotFoundError:
            raise HTTPException(404, f"product {product_id} does not exist") from None
        ranked = await store.also_bought(str(product_id), limit * OVERFETCH)
        items = await sellable([p for p, _ in ranked], limit)
        scores = dict(ranked)
        return {
            "product_id": str(product_id),
            "items": [{**item, "bought_together": int(scores[item["id"]])} for item in items],
            "consistency": consistency.body(),
        }

    @api.get("/customers/{customer_id}/recommendations")
    async def for_customer(
        customer_id: UUID,
        response: Response,
        principal: CurrentUser,
        limit: Limit = 10,
        after: After = None,
    ) -> dict[str, Any]:
        """Products for this customer; ``basis`` says whether from their history or best sellers."""
        owned(principal, customer_id, HTTPException(404, f"customer {customer_id} is not known"))
        consistency = await consistent(after, response)
        basis, ranked = await store.for_customer(str(customer_id), limit * OVERFETCH)
        items = await sellable(ranked, limit)
        if not items and basis == "history":  # nothing left to pair with: best sellers
            theirs = {product for product, _ in await store.bought(str(customer_id))}
            popular = await store.popular(limit * OVERFETCH + len(theirs))
            basis = "popular"
            items = await sellable([p for p, _ in popular if p not in theirs], limit)
        return {
            "customer_id": str(customer_id),
            "basis": basis,
            "items": items,
            "consistency": consistency.body(),
        }

    return api
