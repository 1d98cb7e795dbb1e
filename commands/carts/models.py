"""Cart command models. A cart holds SKUs and quantities only: a price is refused (422),
since prices are fixed when the order is placed."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.carts import MAX_QUANTITY

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{1,39}$"
Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]
Quantity = Annotated[int, Field(ge=1, le=MAX_QUANTITY)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CreateCart(Command):
    # A UUID arrives as a JSON string, so it is parsed leniently.
    customer_id: Annotated[UUID, Field(strict=False)]


class AddItem(Command):
    sku: Sku
    quantity: Quantity


class ChangeQuantity(Command):
    quantity: Quantity
