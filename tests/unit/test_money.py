from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from commands.models import Amount
from domain.money import InvalidMoney, Money
from read_api.money import money


def test_money_from_a_decimal_amount_is_exact_in_minor_units() -> None:
    assert Money.of(Decimal("19.99"), "EUR") == Money(1999, "EUR")
    assert Money.of("1500", "JPY") == Money(1500, "JPY")


def test_more_precision_than_the_currency_has_is_refused() -> None:
    with pytest.raises(InvalidMoney, match="decimal places"):
        Money.of(Decimal("1.999"), "EUR")


@pytest.mark.parametrize("currency", ["eur", "EURO", "E1R", ""])
def test_a_currency_must_be_an_iso_code(currency: str) -> None:
    with pytest.raises(InvalidMoney):
        Money(100, currency)


def test_floats_are_not_money() -> None:
    with pytest.raises(InvalidMoney):
        Money(10.5, "EUR")  # type: ignore[arg-type]


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_amount_and_minor_units_round_trip(minor: int) -> None:
    money = Money(minor, "EUR")
    assert Money.of(money.amount, "EUR") == money


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("1_000", "EUR"),
        ("\uff11\uff12.\uff15\uff10", "EUR"),
        ("1e3", "EUR"),
        (" 12.50", "EUR"),
        ("12.50", "ABC"),
    ],
)
def test_lenient_amounts_and_made_up_currencies_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(ValidationError):
        Amount(amount=amount, currency=currency)  # type: ignore[arg-type]


def test_plain_amounts_in_iso_currencies_are_accepted() -> None:
    assert Amount(amount="12.50", currency="EUR").to_money() == Money(1250, "EUR")  # type: ignore[arg-type]


# Money is written one way on both APIs (issue 15, ADR 0034): what the read API writes, the
# command API takes back as it is.
@pytest.mark.parametrize(
    ("minor", "currency"), [(3490, "EUR"), (0, "EUR"), (5, "JPY"), (1234, "KWD")]
)
def test_money_the_read_api_writes_is_taken_back_by_the_command_models(
    minor: int, currency: str
) -> None:
    written = money(minor, currency)
    assert written is not None
    assert Amount.model_validate(written).to_money() == Money(minor, currency)
    assert Amount.model_validate({"minor": minor, "currency": currency}).to_money() == Money(
        minor, currency
    )
    assert Amount.model_validate(
        {"amount": written["amount"], "currency": currency}
    ).to_money() == (Money(minor, currency))


@pytest.mark.parametrize(
    "body",
    [
        {"amount": "34.91", "minor": 3490, "currency": "EUR"},
        {"minor": "3490", "currency": "EUR"},
        {"minor": -1, "currency": "EUR"},
        {"minor": True, "currency": "EUR"},
        {"minor": 10**20, "currency": "EUR"},
        {"currency": "EUR"},
    ],
)
def test_minor_units_that_disagree_or_are_not_whole_numbers_are_refused(
    body: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        Amount.model_validate(body)
