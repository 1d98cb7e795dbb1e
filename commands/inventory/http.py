"""Inventory command endpoints: stock per SKU and reservations per order.

Rules that say "not now, the stock is not there" are ``Conflict``s with the current state,
so ``infra.http`` answers them with 409 and the domain's code: insufficient stock, a
reservation that does not match, committing what is not reserved, releasing what is
committed, adjusting below reserved.
A SKU that was never received has nothing available: reserving it is 409
``insufficient_stock`` (not 404), so a client sees one answer for "cannot have it".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, status

from commands.base import CommandResult
from commands.http.command import Keyed, KeyedVersioned, Traced
from commands.inventory.application import ExpiryResult, InventoryApplication, StockResult
from commands.inventory.models import (
    AdjustStock,
    ExpireReservations,
    OrderSkus,
    ReceiveStock,
    ReserveStock,
)
from commands.models import SKU_PATTERN
from security.access import Admin

SkuPath = Annotated[str, Path(pattern=SKU_PATTERN, description="the stock keeping unit")]


def router(inventory: InventoryApplication, read_api_url: str) -> APIRouter:
    routes = APIRouter(tags=["inventory"], dependencies=[Admin])

    @routes.post(
        "/stock/{sku}/receipts", status_code=status.HTTP_201_CREATED, response_model=CommandResult
    )
    def receive_stock(sku: SkuPath, command: ReceiveStock, call: Keyed) -> dict[str, Any]:
        """Record received units (the SKU's stock item starts with its first receipt)."""
        return call.once(
            inventory,
            f"receive/{sku}",
            command,
            lambda: inventory.receive(sku, command.quantity, call.idempotency_key),
        )

    @routes.post(
        "/stock/{sku}/adjustments",
        status_code=status.HTTP_201_CREATED,
        response_model=CommandResult,
    )
    def adjust_stock(sku: SkuPath, command: AdjustStock, call: KeyedVersioned) -> dict[str, Any]:
        """A counted correction; it may not remove units that are reserved (409)."""
        return call.once(
            inventory,
            f"adjust/{sku}",
            command,
            lambda: inventory.adjust(
                sku, command.change, command.reason, call.idempotency_key, call.expected_version
            ),
        )

    @routes.post("/reservations", status_code=status.HTTP_201_CREATED, response_model=StockResult)
    def reserve_stock(command: ReserveStock, call: Keyed) -> dict[str, Any]:
        """Reserve every line of an order, or none (409 ``insufficient_stock`` names the
        short SKUs). The same order and lines again changes nothing."""
        at = datetime.now(UTC)
        units = {line.sku: line.quantity for line in command.lines}
        return call.once(
            inventory,
            "reserve",
            command,
            lambda: inventory.reserve(command.order_id, units, at),
            etag=False,
        )

    @routes.post("/reservations/expire", response_model=ExpiryResult)
    def expire_reservations(command: ExpireReservations, call: Traced) -> ExpiryResult:
        """Release every reservation made before ``older_than``."""
        return call.traced(lambda: inventory.expire(command.older_than))

    @routes.post("/reservations/{order_id}/release", response_model=StockResult)
    def release_stock(order_id: UUID, command: OrderSkus, call: Traced) -> StockResult:
        """Give back what the order holds on these SKUs; nothing held is a no-op."""
        return call.traced(lambda: inventory.release(order_id, command.skus))

    @routes.post("/reservations/{order_id}/commit", response_model=StockResult)
    def commit_stock(order_id: UUID, command: OrderSkus, call: Traced) -> StockResult:
        """The order is paid: its reserved units leave stock, on all SKUs or none."""
        return call.traced(lambda: inventory.commit(order_id, command.skus))

    return routes
