"""Analytics for SQL users: pure folding of envelopes into row operations (no I/O).

Each table is fed by exactly one context, so the tables never depend on the order in which
contexts are delivered, and a rebuild from the event store gives the same rows as live
processing. Facts (one row per event: order lines, inventory and payment movements) are
written once per (aggregate, version); dimension rows (products, stock items, carts, orders,
payments) change only when the event's version is newer than the row's. Aggregates over them
(daily sales, the funnel, daily payments, stock levels) are views in the sink.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from contract.envelope import Envelope
from domain.sku import sku_id
from projections.sql_values import integer, money, text, timestamp

CONTEXTS = ("catalog", "inventory", "carts", "orders", "payments")

# Table → primary key; also the order in which the sink locks them.
KEYS: dict[str, tuple[str, ...]] = {
    "products": ("product_id",),
    "stock_items": ("stock_item_id",),
    "inventory_movements": ("stock_item_id", "version"),
    "carts": ("cart_id",),
    "orders": ("order_id",),
    "order_lines": ("order_id", "line_no"),
    "order_refunds": ("order_id", "version"),
    "payments": ("payment_id",),
    "payment_movements": ("payment_id", "version"),
}


@dataclass(frozen=True)
class Insert:
    """A row written once: a creation, or a fact keyed by (aggregate, version)."""

    table: str
    row: dict[str, Any]


@dataclass(frozen=True)
class Update:
    """A dimension row's change, applied only if ``version`` is newer than the row's.
    ``add`` increments columns (applied once, thanks to the version guard)."""

    table: str
    id: UUID
    version: int
    set: dict[str, Any] = field(default_factory=dict)
    add: dict[str, int] = field(default_factory=dict)


Op = Insert | Update

_ORDER_STEPS = {
    "orders.OrderStockReserved": ("stock_reserved", "stock_reserved_at"),
    "orders.OrderPaymentAuthorized": ("paid", "paid_at"),
    "orders.OrderConfirmed": ("confirmed", "confirmed_at"),
    "orders.OrderShipped": ("shipped", "shipped_at"),
    "orders.OrderDelivered": ("delivered", "delivered_at"),
    "orders.OrderCancelled": ("cancelled", "cancelled_at"),
}
_STOCK = {  # event → (kind, on-hand change sign, reserved change sign)
    "inventory.StockItemReceived": ("received", 1, 0),
    "inventory.StockItemReserved": ("reserved", 0, 1),
    "inventory.StockItemReleased": ("released", 0, -1),
    "inventory.StockItemReservationExpired": ("expired", 0, -1),
    "inventory.StockItemCommitted": ("committed", -1, -1),
}


def operations(envelope: Envelope) -> list[Op]:
    """The row operations for one event. Raises KeyError, TypeError or ValueError for a
    payload no table can hold (a poison event)."""
    aggregate = UUID(str(envelope.aggregate_id))
    version = integer(envelope.aggregate_version)
    if not 1 <= version < 2**31:
        raise ValueError(f"aggregate_version {version} is out of range")
    at = timestamp(envelope.occurred_at)
    match envelope.context:
        case "catalog":
            return _catalog(envelope, aggregate, version, at)
        case "inventory":
            return _inventory(envelope, aggregate, version, at)
        case "carts":
            return _carts(envelope, aggregate, version, at)
        case "orders":
            return _orders(envelope, aggregate, version, at)
        case "payments":
            return _payments(envelope, aggregate, version, at)
        case _:
            return []


def _catalog(envelope: Envelope, product: UUID, version: int, at: datetime) -> list[Op]:
    p = envelope.payload
    changed: dict[str, Any] = {"updated_at": at}
    match envelope.type:
        case "catalog.ProductAdded":
            minor, currency = money(p["price"])
            row = {
                "product_id": product,
                "sku": text(p["sku"]),
                "name": text(p["name"]),
                "brand": text(p["brand"]),
                "category": text(p["category"]),
                "price_minor": minor,
                "currency": currency,
                "status": "active",
                "added_at": at,
                "updated_at": at,
                "version": version,
            }
            return [Insert("products", row)]
        case "catalog.ProductPriceChanged":
            changed["price_minor"], changed["currency"] = money(p["price"])
        case "catalog.ProductRenamed":
            changed["name"] = text(p["name"])
        case "catalog.ProductRecategorised":
            changed.update(category=text(p["category"]), brand=text(p["brand"]))
        case "catalog.ProductDiscontinued":
            changed["status"] = "discontinued"
        case "catalog.ProductReinstated":
            changed["status"] = "active"
        case _:
            changed = {}
    return [Update("products", product, version, changed)]


def _inventory(envelope: Envelope, item: UUID, version: int, at: datetime) -> list[Op]:
    p = envelope.payload
    if envelope.type == "inventory.StockItemRegistered":
        row = {"stock_item_id": item, "sku": text(p["sku"]), "registered_at": at}
        return [Insert("stock_items", {**row, "version": version})]
    movement: dict[str, Any] = {"stock_item_id": item, "version": version, "occurred_at": at}
    if envelope.type == "inventory.StockItemAdjusted":
        change = integer(p["change"])
        movement.update(
            kind="adjusted",
            on_hand_change=change,
            reserved_change=0,
            order_id=None,
            reference=text(p["reason"]),
        )
    elif envelope.type in _STOCK:
        kind, on_hand, reserved = _STOCK[envelope.type]
        quantity = integer(p["quantity"])
        order = p.get("order_id")
        movement.update(
            kind=kind,
            on_hand_change=on_hand * quantity,
            reserved_change=reserved * quantity,
            order_id=None if order is None else UUID(str(order)),
            reference=text(p["receipt_id"]) if "receipt_id" in p else None,
        )
    else:
        return [Update("stock_items", item, version)]
    return [Insert("inventory_movements", movement), Update("stock_items", item, version)]


def _carts(envelope: Envelope, cart: UUID, version: int, at: datetime) -> list[Op]:
    p = envelope.payload
    match envelope.type:
        case "carts.CartOpened":
            row = {
                "cart_id": cart,
                "customer_id": UUID(str(p["customer_id"])),
                "opened_at": at,
                "checked_out_at": None,
                "lines": None,
                "units": None,
                "version": version,
            }
            return [Insert("carts", row)]
        case "carts.CartCheckedOut":
            lines = p["lines"]
            if not isinstance(lines, list):
                raise TypeError("lines must be a list")
            units = sum(integer(line["quantity"]) for line in lines)
            checked_out = {"checked_out_at": at, "lines": len(lines), "units": units}
            return [Update("carts", cart, version, checked_out)]
        case _:
            return [Update("carts", cart, version)]


def _orders(envelope: Envelope, order: UUID, version: int, at: datetime) -> list[Op]:
    p = envelope.payload
    match envelope.type:
        case "orders.OrderPlaced":
            total, currency = money(p["total"])
            row: dict[str, Any] = {
                "order_id": order,
                "customer_id": UUID(str(p["customer_id"])),
                "cart_id": UUID(str(p["cart_id"])),
                "status": "placed",
                "total_minor": total,
                "currency": currency,
                "refunded_minor": 0,
                "placed_at": at,
                **{column: None for _, column in _ORDER_STEPS.values()},
                "updated_at": at,
                "version": version,
            }
            ops: list[Op] = [Insert("orders", row)]
            for number, line in enumerate(p["lines"], start=1):
                price, line_currency = money(line["unit_price"])
                sku = text(line["sku"])
                fact = {
                    "order_id": order,
                    "line_no": number,
                    "sku": sku,
                    "product_id": sku_id(sku),
                    "quantity": integer(line["quantity"]),
                    "unit_price_minor": price,
                    "currency": line_currency,
                    "placed_at": at,
                }
                ops.append(Insert("order_lines", fact))
            return ops
        case kind if kind in _ORDER_STEPS:
            status, column = _ORDER_STEPS[kind]
            return [
                Update("orders", order, version, {"status": status, column: at, "updated_at": at})
            ]
        case "orders.OrderRefunded":
            amount, currency = money(p["amount"])
            refund = {
                "order_id": order,
                "version": version,
                "refund_id": UUID(str(p["refund_id"])),
                "amount_minor": amount,
                "currency": currency,
                "refunded_at": at,
            }
            # status becomes "refunded" in SQL once the refunds reach the total
            return [
                Insert("order_refunds", refund),
                Update("orders", order, version, {"updated_at": at}, {"refunded_minor": amount}),
            ]
        case _:
            return [Update("orders", order, version)]


def _payments(envelope: Envelope, payment: UUID, version: int, at: datetime) -> list[Op]:
    p = envelope.payload
    movement: dict[str, Any] = {"payment_id": payment, "version": version, "occurred_at": at}
    match envelope.type:
        case "payments.PaymentAuthorized" | "payments.PaymentAuthorizationDeclined":
            amount, currency = money(p["amount"])
            declined = envelope.type.endswith("Declined")
            status = "declined" if declined else "authorized"
            row = {
                "payment_id": payment,
                "order_id": UUID(str(p["order_id"])),
                "status": status,
                "amount_minor": amount,
                "currency": currency,
                "captured_minor": 0,
                "refunded_minor": 0,
                "card_brand": text(p["card_brand"]),
                "created_at": at,
                "updated_at": at,
                "version": version,
            }
            movement.update(kind=status, amount_minor=amount, currency=currency)
            return [Insert("payments", row), Insert("payment_movements", movement)]
        case "payments.PaymentCaptured" | "payments.PaymentRefunded":
            amount, currency = money(p["amount"])
            kind = "captured" if envelope.type.endswith("Captured") else "refunded"
            movement.update(kind=kind, amount_minor=amount, currency=currency)
            change = Update(
                "payments",
                payment,
                version,
                {"status": kind, "updated_at": at},
                {f"{kind}_minor": amount},
            )
            return [Insert("payment_movements", movement), change]
        case "payments.PaymentVoided":
            movement.update(kind="voided", amount_minor=None, currency=None)
            change = Update("payments", payment, version, {"status": "voided", "updated_at": at})
            return [Insert("payment_movements", movement), change]
        case _:
            return [Update("payments", payment, version)]
