"""What counts as card data: Luhn-valid 13-19 digit numbers and security-code fields."""

from __future__ import annotations

from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.card_data import card_data_field, looks_like_card_number, redact_card_numbers


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "378282246310005",  # American Express, 15 digits
        "6011111111111117",
        "4222222222222",  # 13 digits
        4111111111111111,
        "please charge 4111 1111 1111 1111 thanks",
    ],
)
def test_card_numbers_are_recognised_however_they_are_written(value: object) -> None:
    assert looks_like_card_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "4111111111111112",  # fails Luhn
        "411111111111",  # 12 digits
        "41111111111111111111",  # 20 digits
        "+4930123456",
        "LMP-0001",
        "34.90",
        True,
        "10115",
    ],
)
def test_other_values_are_not_card_numbers(value: object) -> None:
    assert not looks_like_card_number(value)


@given(st.uuids())
def test_no_uuid_is_taken_for_a_card_number(value: object) -> None:
    assert not looks_like_card_number(str(value))


def test_the_field_is_named_by_its_path_and_security_codes_by_name() -> None:
    assert card_data_field({"payment": {"cards": [{"x": "4111111111111111"}]}}) == (
        "payment.cards.0.x"
    )
    assert card_data_field({"billing": {"CVC2": "123"}}) == "billing.CVC2"
    assert card_data_field({"security_code": None}) == "security_code"
    assert card_data_field({"customer_id": str(uuid4()), "quantity": 2}) is None


def test_log_lines_get_card_numbers_masked() -> None:
    line = "GET /stock/4111-1111-1111-1111/receipts 404; order 4111111111111112"

    assert redact_card_numbers(line) == (
        "GET /stock/[card number]/receipts 404; order 4111111111111112"
    )
