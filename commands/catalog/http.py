"""Catalog command endpoints."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from commands.base import CommandResult
from commands.catalog.application import CatalogApplication
from commands.catalog.models import AddProduct, ChangePrice
from commands.http.headers import CorrelationId, IfMatch, expected_version
from commands.metadata import caused_by


def router(catalog: CatalogApplication, read_api_url: str) -> APIRouter:
    routes = APIRouter(prefix="/products", tags=["catalog"])

    @routes.post("", status_code=status.HTTP_201_CREATED)
    def add_product(
        command: AddProduct, response: Response, x_correlation_id: CorrelationId = None
    ) -> CommandResult:
        """Add a product. Its id derives from the SKU, so a SKU is added once (409 after)."""
        with caused_by(x_correlation_id):
            result = catalog.add_product(command)
        # The product is read where queries are served: the read API.
        response.headers["Location"] = f"{read_api_url}/products/{result.id}"
        response.headers["ETag"] = f'"{result.version}"'
        return result

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
        response.headers["ETag"] = f'"{result.version}"'
        return result

    return routes
