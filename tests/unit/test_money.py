from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import InvalidMoney, Money


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
