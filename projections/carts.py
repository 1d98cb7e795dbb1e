"""The cart read model: pure folding of the carts context's envelopes into one cart view.

A cart view is fed by one aggregate, so it keeps that aggregate's version and applies an
event only if it is newer: a redelivered, replayed or out-of-order event changes nothing.
Events the view does not show still advance the version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contract.envelope import Envelope

CartView = dict[str, Any]
OPEN = "open"
CHECKED_OUT = "checked_out"

# The event types this view shows (the others only advance the version).
SHOWN = frozenset(
    {
        "carts.CartOpened",
        "carts.CartItemAdded",
        "carts.CartQuantityChanged",
        "carts.CartItemRemoved",
        "carts.CartCleared",
        "carts.CartCheckedOut",
    }
)


def empty(cart_id: str) -> CartView:
    """A cart known only by its id (its Opened event has not been seen)."""
    return {
        "id": cart_id,
        "customer_id": None,
        "lines": [],
        "status": OPEN,
        "version": 0,
        "updated_at": None,
    }


def apply(cart: CartView | None, envelope: Envelope) -> CartView | None:
    """The cart after ``envelope``, or None when the event is already reflected.

    Raises KeyError, TypeError or ValueError for a payload this view can never apply.
    """
    if cart is not None and cart["version"] >= envelope.aggregate_version:
        return None
    new = _changed(cart or empty(envelope.aggregate_id), envelope)
    new["version"] = envelope.aggregate_version
    new["updated_at"] = envelope.occurred_at
    return new


def fold(cart: CartView | None, envelopes: Iterable[Envelope]) -> CartView | None:
    """The cart after every envelope in order, or None when none of them changed it."""
    after = cart
    for envelope in envelopes:
        after = apply(after, envelope) or after
    return None if after is cart else after


def _changed(cart: CartView, envelope: Envelope) -> CartView:
    payload = envelope.payload
    lines: list[dict[str, Any]] = [dict(line) for line in cart["lines"]]
    match envelope.type:
        case "carts.CartOpened":
            return {**cart, "customer_id": _id(payload["customer_id"])}
        case "carts.CartItemAdded":
            sku, quantity = _sku(payload["sku"]), _quantity(payload["quantity"])
            for line in lines:
                if line["sku"] == sku:
                    line["quantity"] += quantity
                    break
            else:
                lines.append({"sku": sku, "quantity": quantity})
            return {**cart, "lines": lines}
        case "carts.CartQuantityChanged":
            sku, quantity = _sku(payload["sku"]), _quantity(payload["quantity"])
            return {**cart, "lines": _set_quantity(lines, sku, quantity)}
        case "carts.CartItemRemoved":
            sku = _sku(payload["sku"])
            return {**cart, "lines": [line for line in lines if line["sku"] != sku]}
        case "carts.CartCleared":
            return {**cart, "lines": []}
        case "carts.CartCheckedOut":
            return {
                **cart,
                "customer_id": _id(payload["customer_id"]),
                "lines": [_line(line) for line in _list(payload["lines"])],
                "status": CHECKED_OUT,
            }
        case _:  # an event this view does not show still advances the version
            return dict(cart)


def _set_quantity(lines: list[dict[str, Any]], sku: str, quantity: int) -> list[dict[str, Any]]:
    for line in lines:
        if line["sku"] == sku:
            line["quantity"] = quantity
            return lines
    return [*lines, {"sku": sku, "quantity": quantity}]  # the line's ItemAdded went missing


def _line(line: Any) -> dict[str, Any]:
    if not isinstance(line, dict):
        raise TypeError(f"a checked-out line must be an object, got {line!r}")
    return {"sku": _sku(line["sku"]), "quantity": _quantity(line["quantity"])}


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {value!r}")
    return value


def _id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"expected an id string, got {value!r}")
    return value


def _sku(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"expected a SKU string, got {value!r}")
    return value


def _quantity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer quantity, got {value!r}")
    if value < 1:
        raise ValueError(f"quantity must be positive, got {value}")
    return value
