"""The catalog context's application service: thin handlers over the Product aggregate."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import MutableOrImmutableAggregate
from eventsourcing.persistence import IntegrityError

from commands.base import CommandResult, ShopApplication
from domain.catalog import Product, ProductStatus
from domain.catalog.listing import Listing
from domain.errors import AlreadyExists, NotFound
from domain.money import Money
from domain.sku import sku_id


class CatalogApplication(ShopApplication):
    name = "catalog"
    context = "catalog"
    # Popular products change price often: rebuild them from a snapshot every 100 events.
    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[UUID]], int]] = {
        Product: 100
    }

    def add_product(self, listing: Listing, repeat_ok: bool = False) -> CommandResult:
        """Add a product; its id derives from the SKU, so a second add of a SKU conflicts.

        ``repeat_ok`` (a keyed request): if the SKU was added with exactly this content,
        that is the same request arriving twice, answered with the first result.
        """
        product = Product(
            sku=listing.sku,
            name=listing.name,
            description=listing.description,
            brand=listing.brand,
            category=listing.category,
            price=listing.price,
            tags=list(listing.tags),
        )
        try:
            return self.save_and_report(product)
        except IntegrityError:
            if repeat_ok and self._added_as(product):
                return self.result_at(product.id, 1)
            raise AlreadyExists(f"a product with SKU {listing.sku} already exists") from None

    def _added_as(self, product: Product) -> bool:
        first: object = self.repository.get(product.id, version=1)
        return isinstance(first, Product) and _listing(first) == _listing(product)

    def change_price(
        self, product_id: UUID, price: Money, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(
            Product, product_id, "product", lambda p: p.change_price(price), expected_version
        )

    def rename(
        self, product_id: UUID, name: str, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(
            Product, product_id, "product", lambda p: p.revise(name=name), expected_version
        )

    def describe(
        self, product_id: UUID, description: str, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(
            Product,
            product_id,
            "product",
            lambda p: p.revise(description=description),
            expected_version,
        )

    def recategorise(
        self,
        product_id: UUID,
        category: str,
        brand: str | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        return self.update(
            Product,
            product_id,
            "product",
            lambda p: p.recategorise(category, brand),
            expected_version,
        )

    def discontinue(
        self, product_id: UUID, reason: str, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(
            Product, product_id, "product", lambda p: p.discontinue(reason), expected_version
        )

    def reinstate(self, product_id: UUID, expected_version: int | None = None) -> CommandResult:
        return self.update(
            Product, product_id, "product", lambda p: p.reinstate(), expected_version
        )

    def get_product(self, product_id: UUID) -> Product:
        return self.load(Product, product_id, "product")

    def on_sale(self, sku: str) -> bool | None:
        """Whether the SKU's product is active now; None if no product has the SKU."""
        try:
            product = self.get_product(sku_id(sku))
        except NotFound:
            return None
        return product.status is ProductStatus.ACTIVE


def _listing(product: Product) -> tuple[object, ...]:
    return (
        product.sku,
        product.name,
        product.description,
        product.brand,
        product.category,
        product.price,
        product.tags,
    )
