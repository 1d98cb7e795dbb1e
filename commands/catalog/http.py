"""Catalog command endpoints.

A discontinued product refuses changes until it is reinstated: 409 ``product_discontinued``
(a ``Conflict``, mapped by ``infra.http`` like every other domain error).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response, status

from commands.base import CommandResult
from commands.catalog.application import CatalogApplication
from commands.catalog.models import (
    AddProduct,
    ChangePrice,
    Describe,
    Discontinue,
    Recategorise,
    Rename,
)
from commands.http.headers import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    expected_version,
    with_etag,
)
from commands.metadata import caused_by
from security.access import Admin


def router(catalog: CatalogApplication, read_api_url: str) -> APIRouter:
    routes = APIRouter(prefix="/products", tags=["catalog"], dependencies=[Admin])

    @routes.post("", status_code=status.HTTP_201_CREATED, response_model=CommandResult)
    def add_product(
        command: AddProduct,
        response: Response,
        idempotency_key: IdempotencyKey = None,
        x_correlation_id: CorrelationId = None,
    ) -> dict[str, Any]:
        """Add a product. Its id derives from the SKU, so a SKU is added once (409 after).

        With an Idempotency-Key, a repeat of the same request returns the first response.
        """
        with caused_by(x_correlation_id):
            result = catalog.once(
                idempotency_key,
                "add_product",
                command,
                lambda: catalog.add_product(command, repeat_ok=idempotency_key is not None),
            )
        # The product is read where queries are served: the read API.
        response.headers["Location"] = f"{read_api_url}/products/{result['id']}"
        return with_etag(response, result)

    @routes.post("/{product_id}/price")
    def change_price(
        product_id: UUID,
        command: ChangePrice,
        response: Response,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        with caused_by(x_correlation_id):
            result = catalog.change_price(
                product_id, command.price.to_money(), expected_version(if_match)
            )
        return with_etag(response, result)

    @routes.put("/{product_id}/name")
    def rename(
        product_id: UUID,
        command: Rename,
        response: Response,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        with caused_by(x_correlation_id):
            result = catalog.rename(product_id, command.name, expected_version(if_match))
        return with_etag(response, result)

    @routes.put("/{product_id}/description")
    def describe(
        product_id: UUID,
        command: Describe,
        response: Response,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        with caused_by(x_correlation_id):
            result = catalog.describe(product_id, command.description, expected_version(if_match))
        return with_etag(response, result)

    @routes.put("/{product_id}/category")
    def recategorise(
        product_id: UUID,
        command: Recategorise,
        response: Response,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        """Move the product to a category (and a brand, when one is given)."""
        with caused_by(x_correlation_id):
            result = catalog.recategorise(
                product_id, command.category, command.brand, expected_version(if_match)
            )
        return with_etag(response, result)

    @routes.post("/{product_id}/discontinue")
    def discontinue(
        product_id: UUID,
        command: Discontinue,
        response: Response,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        """Take the product off sale: it leaves search and refuses changes until reinstated."""
        with caused_by(x_correlation_id):
            result = catalog.discontinue(product_id, command.reason, expected_version(if_match))
        return with_etag(response, result)

    @routes.post("/{product_id}/reinstate")
    def reinstate(
        product_id: UUID,
        response: Response,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        with caused_by(x_correlation_id):
            result = catalog.reinstate(product_id, expected_version(if_match))
        return with_etag(response, result)

    return routes
