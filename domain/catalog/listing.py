"""What a product is added to the catalog with."""

from __future__ import annotations

from dataclasses import dataclass

from domain.money import Money


@dataclass(frozen=True, slots=True)
class Listing:
    sku: str
    name: str
    brand: str
    category: str
    price: Money
    description: str = ""
    tags: tuple[str, ...] = ()
