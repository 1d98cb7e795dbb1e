"""The read API: product search and product pages from the Elasticsearch read model."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any
from uuid import UUID

from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse
from starlette.requests import Request

from domain.catalog.product import product_id_for
from domain.identity import Role
from read_api.answers import RecentAnswers
from read_api.consistency import AppliedPosition
from read_api.dependencies import After, NotInReadModel, ReadYourWrites
from read_api.product_queries import InvalidCursor, ProductSearch, SortOrder, encode_cursor, present
from security.access import Public, require
from security.api_frame import api_frame, health_router


def create_read_api(
    es: AsyncElasticsearch,
    products_alias: str,
    products_applied: AppliedPosition,
    readiness: Callable[[], Awaitable[None]],
    projections: Callable[[], list[dict[str, Any]]],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    wait_seconds: float = 2.0,
    more_routers: Iterable[APIRouter] = (),
    products_answers: RecentAnswers | None = None,
    bus_document: dict[str, Any] | None = None,
) -> FastAPI:
    """The query API; ``more_routers`` are the other read models' endpoints;
    ``products_answers`` keeps recent searches and product pages (none by default);
    ``bus_document``, the AsyncAPI document of the topics, is served as ``/asyncapi.json``."""
    api = api_frame(
        "shop read API",
        "Queries over projected read models. Eventually consistent with the "
        "command API; each document carries the versions it reflects.",
        lifespan,
    )
    api.include_router(health_router(readiness))
    api.include_router(_projections_router(projections))
    answers = products_answers or RecentAnswers(lambda: None, 0)
    api.include_router(
        _products_router(es, products_alias, products_applied, wait_seconds, answers)
    )
    for router in more_routers:
        api.include_router(router)
    if bus_document is not None:
        _serve_bus_document(api, bus_document)
    return api


def _serve_bus_document(api: FastAPI, document: dict[str, Any]) -> None:
    """Beside ``/openapi.json`` and like it: a plain route, public, not in the OpenAPI."""

    async def asyncapi(_: Request) -> JSONResponse:
        return JSONResponse(document)

    api.add_route("/asyncapi.json", asyncapi, include_in_schema=False)


def _projections_router(projections: Callable[[], list[dict[str, Any]]]) -> APIRouter:
    router = APIRouter(
        tags=["operations"], dependencies=[Depends(require(Role.ADMIN, Role.AUDITOR))]
    )

    @router.get("/projections")
    def projection_status() -> dict[str, Any]:
        """Per projection and context: applied vs published position, lag, dead letters."""
        return {"projections": projections()}

    return router


Term = Annotated[str | None, Query(min_length=1, max_length=200)]
_MAX_LONG = 2**63 - 1  # Elasticsearch's long: a greater bound is a 422, not a 500


def _products_router(
    es: AsyncElasticsearch,
    alias: str,
    applied: AppliedPosition,
    wait_seconds: float,
    answers: RecentAnswers,
) -> APIRouter:
    router = APIRouter(prefix="/products", tags=["products"], dependencies=[Public])

    # Applied is not yet searchable until a refresh.
    consistent = ReadYourWrites(applied, wait_seconds, lambda: es.indices.refresh(index=alias))

    @router.get("/search")
    async def search(
        response: Response,
        q: Annotated[
            str | None, Query(max_length=200, description="full text, typo tolerant")
        ] = None,
        category: Term = None,
        brand: Term = None,
        min_price: Annotated[
            int | None, Query(ge=0, le=_MAX_LONG, description="minor units")
        ] = None,
        max_price: Annotated[
            int | None, Query(ge=0, le=_MAX_LONG, description="minor units")
        ] = None,
        in_stock: bool | None = None,
        sort: SortOrder = SortOrder.RELEVANCE,
        size: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=2000)] = None,
        after: After = None,
    ) -> dict[str, Any]:
        if min_price is not None and max_price is not None and min_price > max_price:
            raise HTTPException(422, "min_price must not exceed max_price")
        query = ProductSearch(
            q, category, brand, min_price, max_price, in_stock, sort, size, cursor
        )
        try:
            body = query.body()
        except InvalidCursor as e:
            raise HTTPException(422, str(e)) from None
        generation = answers.generation()
        consistency = await consistent(after, response)
        key = "search:" + json.dumps(body, sort_keys=True, default=str)
        found = None if after is not None else answers.get(key)
        if found is None:
            try:
                result = await es.search(index=alias, **body)
            except BadRequestError:
                if cursor is None:
                    raise
                # A well-formed cursor whose values do not fit this sort (another sort's).
                raise HTTPException(
                    422, "cursor is not one this API issued for this sort"
                ) from None
            hits = result["hits"]["hits"]
            found = {
                "total": result["hits"]["total"]["value"],
                "items": [present(hit) for hit in hits],
                "facets": {
                    name: [{"value": b["key"], "count": b["doc_count"]} for b in agg["buckets"]]
                    for name, agg in result.get("aggregations", {}).items()
                },
                "next_cursor": encode_cursor(hits[-1]["sort"]) if len(hits) == size else None,
            }
            answers.put(key, found, generation)
        return {**found, "consistency": consistency.body()}

    @router.get("/{product_id}")
    async def get_product(
        product_id: Annotated[str, Path(description="the product's id, or its SKU")],
        response: Response,
        after: After = None,
    ) -> dict[str, Any]:
        """A product page, by id or by SKU (the id is derived from the SKU, ADR 0009)."""
        generation = answers.generation()
        consistency = await consistent(after, response)
        try:
            wanted = UUID(product_id)
        except ValueError:
            wanted = product_id_for(product_id.strip().upper())
        key = f"product:{wanted}"
        found = None if after is not None else answers.get(key)
        if found is None:
            try:
                hit = await es.get(index=alias, id=str(wanted))
            except NotFoundError:
                raise NotInReadModel(  # code not_found, as on the command API
                    consistency, f"product {product_id}", "the search index"
                ) from None
            found = present(dict(hit))
            answers.put(key, found, generation)
        return found

    return router
