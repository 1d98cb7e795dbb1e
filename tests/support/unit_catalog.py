"""Product aggregates for the unit tests, built in memory (no application service): every
field has a plain default, so a test names only the ones its assertions are about."""

from __future__ import annotations

from collections.abc import Sequence

from domain.catalog import Product
from domain.money import Money

EUR_10 = Money(1000, "EUR")


def a_product(
    sku: str = "HP-1000",
    *,
    name: str = "Headphones",
    description: str = "",
    brand: str = "Sonora",
    category: str = "audio",
    price: Money = EUR_10,
    tags: Sequence[str] | None = None,
) -> Product:
    """A newly added product; its Added event is still pending."""
    return Product(sku, name, description, brand, category, price, tags)
