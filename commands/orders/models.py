"""Orders command models: what a client may send, validated before the domain sees it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from commands.models import Amount, Command, Id, Sku
from commands.payments import models as payments
from domain.orders import CardOnFile, OrderLine
from domain.orders.order import MAX_QUANTITY, MIN_QUANTITY

MAX_LINES = 100


class Line(Command):
    sku: Sku
    quantity: Annotated[int, Field(ge=MIN_QUANTITY, le=MAX_QUANTITY)]
    unit_price: Amount = Field(description="the price per unit, fixed when the order is placed")

    def to_line(self) -> OrderLine:
        return OrderLine(self.sku, self.quantity, self.unit_price.to_money())


class PaymentMethod(payments.Command):
    """How the customer pays: the processor's token, the brand and the last four digits
    (never card data: refused with 422 ``card_data_refused``)."""

    payment_token: payments.PaymentToken
    card_brand: payments.CardBrand
    last_four: payments.LastFour

    def to_card(self) -> CardOnFile:
        return CardOnFile(self.card_brand, self.last_four, self.payment_token)


class PlaceOrder(payments.Command):
    """Place an order from a checked-out cart. With a ``payment`` method the saga takes it
    all the way to confirmed; without one it reserves the stock and waits for
    ``POST /orders/{id}/payment-method`` until the reservation expires."""

    customer_id: Id
    cart_id: Id
    lines: Annotated[list[Line], Field(min_length=1, max_length=MAX_LINES)]
    payment: PaymentMethod | None = None

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


class RestockLine(Command):
    sku: Sku
    quantity: Annotated[int, Field(ge=MIN_QUANTITY, le=MAX_QUANTITY)]


class RefundOrder(Command):
    amount: Amount
    restock: Annotated[
        list[RestockLine],
        Field(max_length=MAX_LINES, description="units to put back in stock (returned goods)"),
    ] = []

    @field_validator("restock")
    @classmethod
    def each_sku_once(cls, restock: list[RestockLine]) -> list[RestockLine]:
        skus = [line.sku for line in restock]
        if len(set(skus)) != len(skus):
            raise ValueError("each SKU may appear on one line only")
        return restock

    @field_validator("amount")
    @classmethod
    def positive(cls, amount: Amount) -> Amount:
        if amount.amount <= 0:
            raise ValueError("a refund must be a positive amount")
        return amount
