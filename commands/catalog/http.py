"""Catalog command endpoints.

A discontinued product refuses changes until it is reinstated: 409 ``product_discontinued``
(a ``Conflict``, mapped by ``infra.http`` like every other domain error).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, status

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
from commands.http.command import Keyed, Versioned
from security.access import Admin


def router(catalog: CatalogApplication, read_api_url: str) -> APIRouter:
    routes = APIRouter(prefix="/products", tags=["catalog"], dependencies=[Admin])

    @routes.post("", status_code=status.HTTP_201_CREATED, response_model=CommandResult)
    def add_product(command: AddProduct, call: Keyed) -> dict[str, Any]:
        """Add a product. Its id derives from the SKU, so a SKU is added once (409 after).

        With an Idempotency-Key, a repeat of the same request returns the first response.
        """
        repeat_ok = call.idempotency_key is not None
        result = call.once(
            catalog,
            "add_product",
            command,
            lambda: catalog.add_product(command.to_listing(), repeat_ok=repeat_ok),
        )
        call.locate(f"{read_api_url}/products/{result['id']}")
        return result

    @routes.post("/{product_id}/price")
    def change_price(product_id: UUID, command: ChangePrice, call: Versioned) -> CommandResult:
        price = command.price.to_money()
        return call.run(lambda: catalog.change_price(product_id, price, call.expected_version))

    @routes.put("/{product_id}/name")
    def rename(product_id: UUID, command: Rename, call: Versioned) -> CommandResult:
        return call.run(lambda: catalog.rename(product_id, command.name, call.expected_version))

    @routes.put("/{product_id}/description")
    def describe(product_id: UUID, command: Describe, call: Versioned) -> CommandResult:
        return call.run(
            lambda: catalog.describe(product_id, command.description, call.expected_version)
        )

    @routes.put("/{product_id}/category")
    def recategorise(product_id: UUID, command: Recategorise, call: Versioned) -> CommandResult:
        """Move the product to a category (and a brand, when one is given)."""
        return call.run(
            lambda: catalog.recategorise(
                product_id, command.category, command.brand, call.expected_version
            )
        )

    @routes.post("/{product_id}/discontinue")
    def discontinue(product_id: UUID, command: Discontinue, call: Versioned) -> CommandResult:
        """Take the product off sale: it leaves search and refuses changes until reinstated."""
        return call.run(
            lambda: catalog.discontinue(product_id, command.reason, call.expected_version)
        )

    @routes.post("/{product_id}/reinstate")
    def reinstate(product_id: UUID, call: Versioned) -> CommandResult:
        return call.run(lambda: catalog.reinstate(product_id, call.expected_version))

    return routes
