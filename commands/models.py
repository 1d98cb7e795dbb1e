"""What every context's command models have in common: the base, SKUs, ids and money."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated
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


class Amount(Command):
    """An amount of money that fits its currency's minor units (a 422 names this model)."""

    # Decimal from a JSON string or number; never a float in between.
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=3, strict=False)]
    currency: Currency

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
