"""Inventory command models: what a client may send, validated before the domain sees it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from commands.models import Command, Id, Sku

MAX_UNITS = 1_000_000
MAX_LINES = 100
Units = Annotated[int, Field(ge=1, le=MAX_UNITS)]


class ReceiveStock(Command):
    quantity: Units


class AdjustStock(Command):
    change: Annotated[
        int,
        Field(ge=-MAX_UNITS, le=MAX_UNITS, description="units found (+) or lost (-); never 0"),
    ]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

    @field_validator("change")
    @classmethod
    def not_zero(cls, change: int) -> int:
        if change == 0:
            raise ValueError("an adjustment must change the quantity")
        return change


class ReservationLine(Command):
    sku: Sku
    quantity: Units


def _unique_skus(skus: list[str]) -> None:
    if len(set(skus)) != len(skus):
        raise ValueError("each SKU may appear only once")


class ReserveStock(Command):
    order_id: Id
    lines: Annotated[list[ReservationLine], Field(min_length=1, max_length=MAX_LINES)]

    @field_validator("lines")
    @classmethod
    def one_line_per_sku(cls, lines: list[ReservationLine]) -> list[ReservationLine]:
        _unique_skus([line.sku for line in lines])
        return lines


class OrderSkus(Command):
    """The SKUs an order reserved: release and commit act on all of them at once."""

    skus: Annotated[list[Sku], Field(min_length=1, max_length=MAX_LINES)]

    @field_validator("skus")
    @classmethod
    def each_sku_once(cls, skus: list[str]) -> list[str]:
        _unique_skus(skus)
        return skus


class ExpireReservations(Command):
    older_than: Annotated[
        AwareDatetime,
        # a timestamp arrives as a JSON string, so it is parsed leniently
        Field(strict=False, description="reservations made before this instant are released"),
    ]
