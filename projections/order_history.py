"""Order history: pure folding of orders envelopes into row operations (no I/O).

Two tables make the read model: one row per order (``OrderRow``: its customer, status,
total, refunded amount and version) and one timeline entry per event (``TimelineRow``:
what happened, when, with which amount). ``apply`` turns the current order row and one
envelope into the rows to write; the sink (``projections/sinks/postgres_orders.py``)
turns those into SQL, guarded by version there too.

Idempotent: an envelope at or below the version the order row holds changes nothing.
Events this view does not show still advance the version.

The row also says where the order saga stands (``saga_step``) and why it stopped
(``saga_reason``), derived from the order's own events: the saga records every decision
on the order (ADR 0010).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from contract.envelope import Envelope
from projections.sql_values import integer, money, text, timestamp

CONTEXT = "orders"

# Event type → the status the order takes (None for a refund: it depends on the amounts).
STEPS: dict[str, str] = {
    "orders.OrderStockReserved": "stock_reserved",
    "orders.OrderPaymentAuthorized": "payment_authorized",
    "orders.OrderConfirmed": "confirmed",
    "orders.OrderShipped": "shipped",
    "orders.OrderDelivered": "delivered",
    "orders.OrderCancelled": "cancelled",
}
PLACED = "orders.OrderPlaced"
REFUNDED = "orders.OrderRefunded"
PAYMENT_METHOD = "orders.OrderPaymentMethodGiven"
REFUND_REQUESTED = "orders.OrderRefundRequested"
REFUND_REJECTED = "orders.OrderRefundRejected"
SHOWN = frozenset({PLACED, REFUNDED, PAYMENT_METHOD, REFUND_REQUESTED, REFUND_REJECTED, *STEPS})

# Where the saga stands once the order reached a status (ADR 0010).
SAGA_STEPS: dict[str, str] = {
    "placed": "reserving_stock",
    "stock_reserved": "authorizing_payment",  # or awaiting_payment_method
    "payment_authorized": "capturing_payment",
    "confirmed": "completed",
    "shipped": "completed",
    "delivered": "completed",
    "refunded": "completed",
    "cancelled": "stopped",
}


def saga_step(status: str, has_payment_method: bool, pending_refunds: int) -> str:
    if pending_refunds > 0:
        return "refunding"
    if status == "stock_reserved" and not has_payment_method:
        return "awaiting_payment_method"
    return SAGA_STEPS.get(status, "reserving_stock")


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_id: UUID
    customer_id: UUID
    status: str
    total_minor: int
    currency: str
    refunded_minor: int
    placed_at: datetime
    updated_at: datetime
    version: int
    saga_step: str = "reserving_stock"
    saga_reason: str | None = None
    has_payment_method: bool = False
    pending_refunds: int = 0


@dataclass(frozen=True, slots=True)
class TimelineRow:
    order_id: UUID
    version: int
    status: str
    occurred_at: datetime
    amount_minor: int | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    """The row operations for one event: the order row to upsert (None when the order is
    unknown here) and the timeline entry to add (None for an event the view does not show)."""

    order: OrderRow | None
    timeline: TimelineRow | None


def apply(order: OrderRow | None, envelope: Envelope) -> Change | None:
    """The rows to write after ``envelope``, or None when it changes nothing.

    ``order`` is the order's current row, None if there is none. Raises KeyError,
    TypeError or ValueError for a payload this view can never apply (a poison event).
    """
    if envelope.context != CONTEXT:
        return None
    order_id = UUID(str(envelope.aggregate_id))
    version = integer(envelope.aggregate_version)
    if not 1 <= version < 2**31:
        raise ValueError(f"aggregate_version {version} is out of range")
    if order is not None and order.version >= version:
        return None  # a duplicate: redelivery, replay or rebuild
    at = timestamp(envelope.occurred_at)
    payload = envelope.payload

    def entry(status: str, amount: int | None = None, **detail: Any) -> TimelineRow:
        return TimelineRow(order_id, version, status, at, amount, detail)

    match envelope.type:
        case "orders.OrderPlaced":
            total, currency = money(payload["total"])
            placed = OrderRow(
                order_id=order_id,
                customer_id=UUID(str(payload["customer_id"])),
                status="placed",
                total_minor=total,
                currency=currency,
                refunded_minor=0,
                placed_at=at,
                updated_at=at,
                version=version,
            )
            lines = [_line(line) for line in payload["lines"]]
            return Change(
                placed,
                entry("placed", total, cart_id=str(UUID(str(payload["cart_id"]))), lines=lines),
            )
        case "orders.OrderPaymentAuthorized":
            payment_id = str(UUID(str(payload["payment_id"])))
            change = _step(order, version, at, entry("payment_authorized", payment_id=payment_id))
            return _with_saga(change)
        case "orders.OrderCancelled":
            reason = text(payload["reason"])
            change = _step(order, version, at, entry("cancelled", reason=reason))
            return _with_saga(change, reason=reason)
        case "orders.OrderPaymentMethodGiven":
            timeline = entry(
                "payment_method_given",
                card_brand=text(payload["card_brand"]),
                last_four=text(payload["last_four"]),
            )
            if order is None:
                return Change(None, timeline)
            row = replace(order, has_payment_method=True, updated_at=at, version=version)
            return _with_saga(Change(row, timeline))
        case "orders.OrderRefundRequested":
            amount, _ = money(payload["amount"])
            refund_id = str(UUID(str(payload["refund_id"])))
            restock = {str(sku): integer(units) for sku, units in payload["restock"].items()}
            timeline = entry("refund_requested", amount, refund_id=refund_id, restock=restock)
            if order is None:
                return Change(None, timeline)
            row = replace(
                order, pending_refunds=order.pending_refunds + 1, updated_at=at, version=version
            )
            return _with_saga(Change(row, timeline))
        case "orders.OrderRefundRejected":
            reason = text(payload["reason"])
            refund_id = str(UUID(str(payload["refund_id"])))
            timeline = entry("refund_rejected", refund_id=refund_id, reason=reason)
            if order is None:
                return Change(None, timeline)
            row = replace(
                order,
                pending_refunds=max(0, order.pending_refunds - 1),
                updated_at=at,
                version=version,
            )
            return _with_saga(Change(row, timeline), reason=f"refund rejected: {reason}")
        case kind if kind in STEPS:
            return _with_saga(_step(order, version, at, entry(STEPS[kind])))
        case "orders.OrderRefunded":
            amount, _ = money(payload["amount"])
            refund_id = str(UUID(str(payload["refund_id"])))
            if order is None:
                return Change(None, entry("refunded", amount, refund_id=refund_id))
            refunded = order.refunded_minor + amount
            in_full = refunded >= order.total_minor
            row = replace(
                order,
                status="refunded" if in_full else order.status,
                refunded_minor=refunded,
                updated_at=at,
                version=version,
                pending_refunds=max(0, order.pending_refunds - 1),
            )
            detail = {"refund_id": refund_id, "refunded_minor": refunded, "in_full": in_full}
            return _with_saga(Change(row, entry("refunded", amount, **detail)))
        case _:  # an event this view does not show still advances the version
            return Change(replace(order, version=version), None) if order else None


def _with_saga(change: Change, reason: str | None = None) -> Change:
    """The change with the order row's saga step (and reason, when it stopped) brought
    up to date."""
    row = change.order
    if row is None:
        return change
    step = saga_step(row.status, row.has_payment_method, row.pending_refunds)
    return replace(
        change, order=replace(row, saga_step=step, saga_reason=reason or row.saga_reason)
    )


def _step(order: OrderRow | None, version: int, at: datetime, timeline: TimelineRow) -> Change:
    if order is None:  # the order row is missing (its Placed was dead-lettered)
        return Change(None, timeline)
    return Change(replace(order, status=timeline.status, updated_at=at, version=version), timeline)


def _line(line: dict[str, Any]) -> dict[str, Any]:
    unit_price, _ = money(line["unit_price"])
    return {
        "sku": str(line["sku"]),
        "quantity": integer(line["quantity"]),
        "unit_price_minor": unit_price,
    }
