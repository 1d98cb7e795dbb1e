"""Events to measure on, made through the applications' public methods as the command API
would make them (or, for long histories, through the aggregates' own methods saved in
batches, so that snapshots are taken where the application takes them)."""

from __future__ import annotations

import uuid
from typing import TypeVar
from uuid import UUID

from commands.carts.application import CartsApplication
from commands.catalog.application import CatalogApplication
from commands.inventory.application import InventoryApplication
from commands.orders.application import OrdersApplication
from domain.catalog.listing import Listing
from domain.catalog.product import Product
from domain.inventory.stock_item import StockItem
from domain.money import Money
from domain.orders import OrderLine
from infra import bootstrap
from infra.settings import Settings

# A multiple of every snapshotting interval (50 for stock items, 100 for products), so each
# saved batch ends on a version where the application takes a snapshot.
_SAVE_BATCH = 500
T = TypeVar("T")


def _app(settings: Settings, context: str, kind: type[T]) -> T:
    app = bootstrap.application(settings, context)
    assert isinstance(app, kind)
    return app


def sku(n: int) -> str:
    return f"BENCH-{n:05d}"


def commerce(settings: Settings, count: int) -> None:
    """``count`` each of products with stock, checked-out carts and delivered orders."""
    catalog = _app(settings, "catalog", CatalogApplication)
    inventory = _app(settings, "inventory", InventoryApplication)
    carts = _app(settings, "carts", CartsApplication)
    orders = _app(settings, "orders", OrdersApplication)
    try:
        for n in range(count):
            catalog.add_product(
                Listing(
                    sku(n),
                    f"Bench headphones {n}",
                    "Bench",
                    "audio",
                    Money(1999, "EUR"),
                    "Wireless over-ear headphones",
                )
            )
            inventory.receive(sku(n), 100, None)
            customer = uuid.uuid4()
            cart = carts.create_cart(customer, None).id
            carts.add_item(cart, sku(n), 1)
            carts.add_item(cart, sku((n + 1) % count), 2)
            carts.check_out(cart)
            price = Money(1999, "EUR")
            lines = [OrderLine(sku(n), 1, price), OrderLine(sku((n + 1) % count), 2, price)]
            placed = orders.place_order(customer, cart, lines, None).id
            orders.mark_stock_reserved(placed)
            orders.mark_payment_authorized(placed, uuid.uuid4())
            orders.confirm(placed)
            orders.ship(placed)
            orders.deliver(placed)
    finally:
        for app in (catalog, inventory, carts, orders):
            app.close()


def stock_history(settings: Settings, name: str, events: int) -> UUID:
    """One stock item with ``events`` events (receipts), saved in batches."""
    inventory = _app(settings, "inventory", InventoryApplication)
    try:
        item = StockItem(sku=name)
        for n in range(1, events):
            item.receive(1, f"r{n}")
            if (n + 1) % _SAVE_BATCH == 0:
                inventory.save(item)
        inventory.save(item)
        return item.id
    finally:
        inventory.close()


def price_history(settings: Settings, name: str, events: int) -> UUID:
    """One product with ``events`` events (price changes), saved in batches."""
    catalog = _app(settings, "catalog", CatalogApplication)
    try:
        product = Product(
            sku=name,
            name="Bench lamp",
            description="",
            brand="Bench",
            category="home",
            price=Money(1000, "EUR"),
        )
        for n in range(1, events):
            product.change_price(Money(1000 + n, "EUR"))
            if (n + 1) % _SAVE_BATCH == 0:
                catalog.save(product)
        catalog.save(product)
        return product.id
    finally:
        catalog.close()
