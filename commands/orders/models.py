"""Orders command models: what a client may send, validated before the domain sees it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from domain.money import InvalidMoney, Money
from domain.orders import OrderLine
from domain.orders.order import MAX_QUANTITY, MIN_QUANTITY

Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Id = Annotated[UUID, Field(strict=False)]  # a UUID from its JSON string
MAX_LINES = 100


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Amount(Command):
    # Decimal from a JSON string or number; never a float in between.
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=3, strict=False)]
    currency: Currency

    @field_validator("amount", mode="before")
    @classmethod
    def no_booleans(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("amount must be a decimal number")
        return value

    @model_validator(mode="after")
    def fits_currency(self) -> Amount:
        self.to_money()
        return self

    def to_money(self) -> Money:
        try:
            return Money.of(self.amount, self.currency)
        except InvalidMoney as e:
            raise ValueError(str(e)) from None


class Line(Command):
    sku: Sku
    quantity: Annotated[int, Field(ge=MIN_QUANTITY, le=MAX_QUANTITY)]
    unit_price: Amount = Field(description="the price per unit, fixed when the order is placed")

    def to_line(self) -> OrderLine:
        return OrderLine(self.sku, self.quantity, self.unit_price.to_money())


class PlaceOrder(Command):
    """Place an order from a checked-out cart (for now sent by an operator or the saga)."""

    customer_id: Id
    cart_id: Id
    lines: Annotated[list[Line], Field(min_length=1, max_length=MAX_LINES)]

    @field_validator("lines")
    @classmethod
    def one_currency_and_each_sku_once(cls, lines: list[Line]) -> list[Line]:
        currencies = {line.unit_price.currency for line in lines}
        if len(currencies) > 1:
            raise ValueError(f"all lines must be in one currency, got {sorted(currencies)}")
        skus = [line.sku for line in lines]
        if len(set(skus)) != len(skus):
            raise ValueError("each SKU may appear on one line only")
        return lines


class MarkPaymentAuthorized(Command):
    payment_id: Id


class CancelOrder(Command):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class RefundOrder(Command):
    amount: Amount

    @field_validator("amount")
    @classmethod
    def positive(cls, amount: Amount) -> Amount:
        if amount.amount <= 0:
            raise ValueError("a refund must be a positive amount")
        return amount
