"""The catalog's Product aggregate."""

from __future__ import annotations

from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import RuleViolated
from domain.money import Money

_SKU_NAMESPACE = uuid5(NAMESPACE_URL, "urn:shop:catalog:sku")


def product_id_for(sku: str) -> UUID:
    """One product per SKU: the id is derived from it, so a second add of a SKU conflicts."""
    return uuid5(_SKU_NAMESPACE, sku)


class ProductStatus(StrEnum):
    ACTIVE = "active"
    DISCONTINUED = "discontinued"


class ProductDiscontinued(RuleViolated):
    code = "product_discontinued"


class NegativePrice(RuleViolated):
    code = "negative_price"


class Product(Aggregate):
    class Added(Aggregate.Created):
        sku: str
        name: str
        description: str
        brand: str
        category: str
        price: Money

    @staticmethod
    def create_id(sku: str, **_: object) -> UUID:
        return product_id_for(sku)

    @event(Added)
    def __init__(
        self, sku: str, name: str, description: str, brand: str, category: str, price: Money
    ) -> None:
        check_price(price)
        self.sku = sku
        self.name = name
        self.description = description
        self.brand = brand
        self.category = category
        self.price = price
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

    def check_active(self) -> None:
        if self.status is not ProductStatus.ACTIVE:
            raise ProductDiscontinued(f"product {self.sku} is discontinued")


def check_price(price: Money) -> None:
    if price.is_negative():
        raise NegativePrice(f"price must not be negative, got {price}")
