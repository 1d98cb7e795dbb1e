"""What every context's command models have in common: the base, SKUs, ids and money."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from domain.money import ISO_4217, InvalidMoney, Money

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{1,39}$"
Sku = Annotated[str, StringConstraints(pattern=SKU_PATTERN)]


def _iso_4217(code: str) -> str:
    if code not in ISO_4217:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_iso_4217)]
# ASCII digits, an optional fraction: no "1_000", no full-width digits, no exponent.
_DECIMAL_TEXT = re.compile(r"^[0-9]{1,15}(?:\.[0-9]{1,15})?$", re.ASCII)
Id = Annotated[UUID, Field(strict=False)]  # a UUID from its JSON string


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _minor_in_schema(schema: dict[str, Any]) -> None:
    schema.setdefault("properties", {})["minor"] = {
        "type": "integer",
        "description": "the amount in minor units (3490 for 34.90 EUR), as the read API "
        "writes it; instead of `amount` or beside it (then they must agree)",
    }
    schema["required"] = ["currency"]


class Amount(Command):
    """An amount of money that fits its currency's minor units (a 422 names this model).

    Written as the read API writes money: ``{"amount": "34.90", "currency": "EUR"}``, or
    ``{"minor": 3490, "currency": "EUR"}``, or both (they must agree), so an amount read
    can be sent back as it is."""

    model_config = ConfigDict(json_schema_extra=_minor_in_schema)

    # Decimal from a JSON string or number; never a float in between.
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=3, strict=False)]
    currency: Currency

    @model_validator(mode="before")
    @classmethod
    def from_minor_units(cls, data: object) -> object:
        if not isinstance(data, dict) or "minor" not in data:
            return data
        data = dict(data)
        minor, currency = data.pop("minor"), data.get("currency")
        if not isinstance(minor, int) or isinstance(minor, bool) or not 0 <= minor < 10**15:
            raise ValueError("minor must be a whole number of minor units, like 3490")
        if not isinstance(currency, str) or currency not in ISO_4217:
            return data  # the currency's own error says what is wrong
        amount = Money(minor, currency).amount
        given = data.get("amount")
        if given is not None:
            try:
                agrees = Decimal(str(given)) == amount
            except ArithmeticError:
                agrees = True  # the amount's own error says what is wrong
            if not agrees:
                raise ValueError(f"amount {given} and minor {minor} do not agree")
            return data
        data["amount"] = str(amount)
        return data

    @field_validator("amount", mode="before")
    @classmethod
    def no_booleans(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("amount must be a decimal number")
        if isinstance(value, str) and not _DECIMAL_TEXT.match(value):
            raise ValueError("amount must be written with ASCII digits, like 19.99")
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


class PositiveAmount(Amount):
    amount: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3, strict=False)]
