"""Catalog command models: what a client may send, validated before the domain sees it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from commands.models import Amount, Command, Sku
from domain.catalog.listing import Listing

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=5000)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
Price = Amount  # at least 0, and it fits the currency (else a 422 names the price)


class AddProduct(Command):
    sku: Sku = Field(description="Stock keeping unit, upper case letters, digits and dashes")
    name: Text
    description: Description = ""
    brand: Text
    category: Text
    price: Price
    tags: Annotated[list[Tag], Field(max_length=20)] = []

    def to_listing(self) -> Listing:
        return Listing(
            self.sku,
            self.name,
            self.brand,
            self.category,
            self.price.to_money(),
            self.description,
            tuple(self.tags),
        )


class ChangePrice(Command):
    price: Price


class Rename(Command):
    name: Text


class Describe(Command):
    description: Description


class Recategorise(Command):
    category: Text
    brand: Text | None = Field(default=None, description="left as it is when not given")


class Discontinue(Command):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
