"""Adding products through the catalog's application service, as the command API does."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from uuid import UUID

from commands.catalog.models import AddProduct, Price
from infra import bootstrap
from infra.settings import Settings


def a_product(sku: str, name: str | None = None, amount: str = "10") -> AddProduct:
    """A valid product; a test names only what it cares about."""
    return AddProduct(
        sku=sku,
        name=name or f"Product {sku}",
        brand="Brand",
        category="misc",
        price=Price(amount=Decimal(amount), currency="EUR"),
    )


def add_products(settings: Settings, products: Iterable[AddProduct]) -> list[UUID]:
    catalog = bootstrap.catalog(settings)
    try:
        return [catalog.add_product(product).id for product in products]
    finally:
        catalog.close()
