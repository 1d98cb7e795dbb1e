"""What counts as card data: Luhn-valid 13-19 digit numbers and security-code fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.card_data import (
    card_data_field,
    looks_like_card_number,
    passes_luhn,
    redact_card_numbers,
)


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


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])))
def test_no_timestamp_is_taken_for_a_card_number(moment: datetime) -> None:
    # "2026-12-03T09:01:23.456789+00:00" holds sixteen digits after the date: one in ten
    # would pass the Luhn check and a reservation cut-off would be refused at random
    for written in (moment.isoformat(), moment.isoformat(sep=" "), f"expire before {moment}"):
        assert not looks_like_card_number(written), written
    assert not looks_like_card_number(moment.date().isoformat())


def test_a_card_number_next_to_a_timestamp_is_still_found() -> None:
    assert looks_like_card_number("2026-12-03T09:01:23+00:00 paid 4111 1111 1111 1111")


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


def _luhn_complete(prefix: str) -> str:
    for check in "0123456789":
        if passes_luhn(prefix + check):
            return prefix + check
    raise AssertionError("unreachable")


_SEPARATORS = st.sampled_from([" ", "-", ".", "/", "_", "\t", " - ", "·", "\u00a0", "", "|", ","])
_FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


@st.composite
def card_numbers_in_text(draw: st.DrawFn) -> tuple[str, str]:
    length = draw(st.integers(13, 19))
    digits = _luhn_complete(draw(st.text("0123456789", min_size=length - 1, max_size=length - 1)))
    if draw(st.booleans()):
        digits = digits.translate(_FULL_WIDTH)
    separator = draw(_SEPARATORS)
    size = draw(st.sampled_from([1, 3, 4, 5]))
    written = separator.join(digits[i : i + size] for i in range(0, len(digits), size))
    before = draw(st.sampled_from(["", "card ", "abc", "x:", "ref#", "pay with "]))
    after = draw(st.sampled_from(["", " thanks", "xyz", "/12/27", " exp 12/27", "!"]))
    return digits, before + written + after


@given(card_numbers_in_text())
def test_a_card_number_is_found_in_any_format_and_placement(case: tuple[str, str]) -> None:
    _, text = case
    assert looks_like_card_number(text), text
    assert card_data_field({"note": text}) == "note"
    masked = redact_card_numbers(text)
    assert "[card number]" in masked
    assert not looks_like_card_number(masked)


@pytest.mark.parametrize(
    "value",
    [
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "card4111111111111111",
        "4111 1111 1111 1111 2027",
    ],
)
def test_card_numbers_with_other_separators_or_glued_to_letters_are_recognised(value: str) -> None:
    assert looks_like_card_number(value)


def test_a_key_that_is_a_card_number_is_not_echoed_in_the_field_name() -> None:
    assert card_data_field({"lines": {"4111111111111111": 1}}) == "lines.<key>"


@pytest.mark.parametrize(
    "name", ["cvc", "CVV2", "cid", "csc", "security_code", "card_code", "cardCvc", "cc_cvv", "cvn"]
)
def test_security_code_fields_are_recognised_by_their_many_names(name: str) -> None:
    assert card_data_field({name: "123"}) == name
