"""The catalog context's application service: thin handlers over the Product aggregate."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import IntegrityError

from commands.base import CommandResult, ShopApplication
from commands.catalog.models import AddProduct
from domain.catalog import Product
from domain.errors import AlreadyExists
from domain.money import Money


class CatalogApplication(ShopApplication):
    name = "catalog"
    context = "catalog"

    def add_product(self, command: AddProduct) -> CommandResult:
        product = Product(
            sku=command.sku,
            name=command.name,
            description=command.description,
            brand=command.brand,
            category=command.category,
            price=command.price.to_money(),
        )
        try:
            return self.save_and_report(product)
        except IntegrityError:
            raise AlreadyExists(f"a product with SKU {command.sku} already exists") from None

    def change_price(
        self, product_id: UUID, price: Money, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(
            Product, product_id, "product", lambda p: p.change_price(price), expected_version
        )

    def get_product(self, product_id: UUID) -> Product:
        return self.load(Product, product_id, "product")
