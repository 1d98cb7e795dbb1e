"""The catalog's Product aggregate."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, RuleViolated
from domain.money import Money
from domain.sku import sku_id


def product_id_for(sku: str) -> UUID:
    """One product per SKU: the id is derived from it, so a second add of a SKU conflicts."""
    return sku_id(sku)


class ProductStatus(StrEnum):
    ACTIVE = "active"
    DISCONTINUED = "discontinued"


class ProductDiscontinued(Conflict):
    """A discontinued product's listing is frozen until it is reinstated."""

    code = "product_discontinued"


class NegativePrice(RuleViolated):
    code = "negative_price"


class BlankListing(RuleViolated):
    code = "blank_listing"


class Product(Aggregate):
    class Added(Aggregate.Created):
        # Version 2 added tags; events stored before that are upcast with no tags.
        class_version = 2
        sku: str
        name: str
        description: str
        brand: str
        category: str
        price: Money
        tags: list[str]

        def __post_init__(self) -> None:
            object.__setattr__(self, "tags", list(self.tags or ()))

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["tags"] = []

    @staticmethod
    def create_id(sku: str, **_: object) -> UUID:
        return product_id_for(sku)

    @event(Added)
    def __init__(
        self,
        sku: str,
        name: str,
        description: str,
        brand: str,
        category: str,
        price: Money,
        tags: Sequence[str] | None = None,
    ) -> None:
        check_price(price)
        self.sku = sku
        self.name = name
        self.description = description
        self.brand = brand
        self.category = category
        self.price = price
        self.tags = list(tags or ())
        self.status = ProductStatus.ACTIVE

    class PriceChanged(Aggregate.Event):
        price: Money

    def change_price(self, price: Money) -> None:
        self.check_active()
        check_price(price)
        if price != self.price:
            self._price_changed(price)

    @event(PriceChanged)
    def _price_changed(self, price: Money) -> None:
        self.price = price

    class Renamed(Aggregate.Event):
        name: str

    class Described(Aggregate.Event):
        description: str

    def revise(self, name: str | None = None, description: str | None = None) -> None:
        """Change the name and/or the description; an event for each that changes."""
        self.check_active()
        if name is not None:
            check_not_blank("name", name)
        if name is not None and name != self.name:
            self._renamed(name)
        if description is not None and description != self.description:
            self._described(description)

    @event(Renamed)
    def _renamed(self, name: str) -> None:
        self.name = name

    @event(Described)
    def _described(self, description: str) -> None:
        self.description = description

    class Recategorised(Aggregate.Event):
        category: str
        brand: str

    def recategorise(self, category: str, brand: str | None = None) -> None:
        """Move to another category (and brand, if given)."""
        self.check_active()
        check_not_blank("category", category)
        brand = self.brand if brand is None else brand
        check_not_blank("brand", brand)
        if (category, brand) != (self.category, self.brand):
            self._recategorised(category, brand)

    @event(Recategorised)
    def _recategorised(self, category: str, brand: str) -> None:
        self.category = category
        self.brand = brand

    class Discontinued(Aggregate.Event):
        reason: str

    def discontinue(self, reason: str) -> None:
        """Take the product off sale; discontinuing it again changes nothing."""
        check_not_blank("reason", reason)
        if self.status == ProductStatus.ACTIVE:
            self._discontinued(reason)

    @event(Discontinued)
    def _discontinued(self, reason: str) -> None:
        self.status = ProductStatus.DISCONTINUED

    class Reinstated(Aggregate.Event):
        pass

    def reinstate(self) -> None:
        """Put a discontinued product back on sale; an active one changes nothing."""
        if self.status == ProductStatus.DISCONTINUED:
            self._reinstated()

    @event(Reinstated)
    def _reinstated(self) -> None:
        self.status = ProductStatus.ACTIVE

    def check_active(self) -> None:
        # Compared by value: a snapshot restores the status as a plain string.
        if self.status != ProductStatus.ACTIVE:
            raise ProductDiscontinued(f"product {self.sku} is discontinued")


def check_price(price: Money) -> None:
    if price.is_negative():
        raise NegativePrice(f"price must not be negative, got {price}")


def check_not_blank(field: str, value: str) -> None:
    if not value.strip():
        raise BlankListing(f"a product's {field} must not be blank")
