"""Catalog command models: what a client may send, validated before the domain sees it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from domain.money import InvalidMoney, Money

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Sku = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Description = Annotated[str, StringConstraints(max_length=5000)]
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Price(Command):
    # Decimal from a JSON string or number; never a float in between.
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=3, strict=False)]
    currency: Currency

    @field_validator("amount", mode="before")
    @classmethod
    def no_floats_from_python(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("amount must be a decimal number")
        return value

    def to_money(self) -> Money:
        try:
            return Money.of(self.amount, self.currency)
        except InvalidMoney as e:
            raise ValueError(str(e)) from None


class AddProduct(Command):
    sku: Sku = Field(description="Stock keeping unit, upper case letters, digits and dashes")
    name: Text
    description: Description = ""
    brand: Text
    category: Text
    price: Price
    tags: Annotated[list[Tag], Field(max_length=20)] = []

    @field_validator("price")
    @classmethod
    def price_fits_currency(cls, price: Price) -> Price:
        price.to_money()
        return price


class ChangePrice(Command):
    price: Price

    @field_validator("price")
    @classmethod
    def price_fits_currency(cls, price: Price) -> Price:
        price.to_money()
        return price


class Rename(Command):
    name: Text


class Describe(Command):
    description: Description


class Recategorise(Command):
    category: Text
    brand: Text | None = Field(default=None, description="left as it is when not given")


class Discontinue(Command):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
