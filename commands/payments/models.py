"""Payments command models: what a client may send, validated before the domain sees it.

PCI scope: a payment token, the card brand and the last four digits are all a payment
ever receives. A value that looks like a card number (13 to 19 digits, spaces or dashes
allowed, passing the Luhn check) or a field named like a security code is refused with a
422 ``card_data_refused`` that names the field and never echoes the value, so it is never
validated further, logged or stored.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from commands import models
from commands.card_data import card_data_field
from commands.models import Id, PositiveAmount  # a payment never moves 0

CardBrand = Literal[
    "visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay", "maestro"
]

_DIGIT_RUN = re.compile(r"\d{13,}")


class Command(models.Command):
    """A payments command: it refuses card data anywhere in its body."""

    @model_validator(mode="before")
    @classmethod
    def no_card_data(cls, data: Any) -> Any:
        field = card_data_field(data)
        if field is not None:
            raise PydanticCustomError(
                "card_data_refused",
                "{field} looks like a card number or security code: send a payment token, "
                "the card brand and the last four digits only",
                {"field": field},
            )
        return data


def _no_card_number_in_token(value: str) -> str:
    if _DIGIT_RUN.search(value):
        raise PydanticCustomError(
            "card_data_refused", "a payment token must not contain a card number"
        )
    return value


PaymentToken = Annotated[
    str,
    StringConstraints(pattern=r"^tok_[A-Za-z0-9_]{1,60}$"),
    AfterValidator(_no_card_number_in_token),
    Field(description="a token from the processor's card form, never a card number"),
]
LastFour = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]


class Authorize(Command):
    order_id: Id
    amount: PositiveAmount
    payment_token: PaymentToken
    card_brand: CardBrand
    last_four: LastFour


class Capture(Command):
    amount: PositiveAmount | None = Field(default=None, description="omit to capture it all")


class Void(Command):
    pass


class Refund(Command):
    amount: PositiveAmount
