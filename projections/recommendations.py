"""Recommendations: pure reading of orders envelopes into the steps of a purchase (no I/O).

A purchase counts once its order is confirmed: then each product of the order scores one
co-purchase with every other product of it ("customers who bought this also bought"), one
purchase in the customer's history and one in the shop's popularity. An order cancelled after
confirmation takes its counts back. The sink (``sinks/redis_recommendations.py``) applies the
steps atomically per order, guarded by the order's version, so redelivery counts nothing twice.

Products are named by product id: the id of a SKU (ADR 0009), so the read API can look the
products up in the search index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from contract.envelope import Envelope
from domain.sku import sku_id

CONTEXT = "orders"
PLACED, CONFIRM, CANCEL, ADVANCE = "placed", "confirm", "cancel", "advance"


@dataclass(frozen=True, slots=True)
class Step:
    order_id: str
    version: int
    op: str
    customer_id: str = ""
    products: tuple[str, ...] = ()


def step_of(envelope: Envelope) -> Step | None:
    """What ``envelope`` does to the recommendations, or None for another context.

    Raises KeyError, TypeError or ValueError for a payload that can never be applied.
    """
    if envelope.context != CONTEXT:
        return None
    order_id = str(UUID(envelope.aggregate_id))
    version = envelope.aggregate_version
    if not 1 <= version < 2**31:
        raise ValueError(f"aggregate_version {version} is out of range")
    match envelope.type:
        case "orders.OrderPlaced":
            payload = envelope.payload
            products = sorted({str(sku_id(_sku(line))) for line in _list(payload["lines"])})
            customer = str(UUID(str(payload["customer_id"])))
            return Step(order_id, version, PLACED, customer, tuple(products))
        case "orders.OrderConfirmed":
            return Step(order_id, version, CONFIRM)
        case "orders.OrderCancelled":
            return Step(order_id, version, CANCEL)
        case _:  # other steps of the order only advance its version
            return Step(order_id, version, ADVANCE)


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise TypeError(f"expected a non-empty list of lines, got {value!r}")
    return value


def _sku(line: Any) -> str:
    if not isinstance(line, dict) or not isinstance(line.get("sku"), str) or not line["sku"]:
        raise TypeError(f"a line needs a SKU, got {line!r}")
    return str(line["sku"])
