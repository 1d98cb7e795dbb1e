"""Card data detection (PCI DSS scope): what no request may carry and nothing may store.

A card number is 13 to 19 digits, optionally grouped by spaces or dashes, passing the Luhn
check, on its own or inside a longer text. A security code is any field named like one
(``cvv``, ``cvc``, ``security_code``...), whatever its value. Callers name the field and
never echo the value.
"""

from __future__ import annotations

import re

# A digit group not glued to letters, digits or dashes on either side (so a UUID's digits
# are not read as a card number).
_CARD_NUMBER = re.compile(r"(?<![0-9A-Za-z-])\d(?:[ -]?\d){12,18}(?![0-9A-Za-z-])")
_SECURITY_CODE_FIELDS = frozenset(
    {
        "cvv",
        "cvv2",
        "cvc",
        "cvc2",
        "cid",
        "csc",
        "securitycode",
        "cardsecuritycode",
        "cardverificationvalue",
        "cardverificationcode",
        "verificationcode",
    }
)


def passes_luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def looks_like_card_number(value: object) -> bool:
    """Whether a string (or integer) is, or contains, a Luhn-valid card number."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return any(
        passes_luhn(re.sub(r"[ -]", "", match.group()))
        for match in _CARD_NUMBER.finditer(str(value))
    )


def names_security_code(name: str) -> bool:
    return re.sub(r"[^a-z0-9]", "", name.lower()) in _SECURITY_CODE_FIELDS


def card_data_field(data: object, path: str = "") -> str | None:
    """The first field (dotted path) holding card data, if any."""
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{path}.{key}" if path else str(key)
            if names_security_code(str(key)) or looks_like_card_number(str(key)):
                return name
            found = card_data_field(value, name)
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found = card_data_field(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    elif looks_like_card_number(data):
        return path or "body"
    return None


def redact_card_numbers(text: str) -> str:
    """``text`` with every Luhn-valid card number replaced (for log lines)."""

    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[ -]", "", match.group())
        return "[card number]" if passes_luhn(digits) else match.group()

    return _CARD_NUMBER.sub(mask, text)
