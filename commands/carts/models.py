"""Cart command models. A cart holds SKUs and quantities only: a price is refused (422),
since prices are fixed when the order is placed."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from commands.models import Command, Id, Sku
from domain.carts import MAX_QUANTITY

Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class CreateCart(Command):
    customer_id: Id


class AddItem(Command):
    sku: Sku
    quantity: Quantity


class ChangeQuantity(Command):
    quantity: Quantity
