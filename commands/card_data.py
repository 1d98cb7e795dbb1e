"""Card data detection (PCI DSS scope): what no request may carry and nothing may store.

A card number is 13 to 19 digits (any Unicode decimal digits) passing the Luhn check, on
its own or inside a longer text, even glued to letters, and grouped by any separators: up
to three characters that are neither letters nor digits between two digits (spaces, dashes,
dots, slashes, underscores, tabs...). Within a longer run of grouped digits every sequence
of whole groups is tried, so a number followed by an expiry date is found too; an
ungrouped run longer than 19 digits is not a card number. Canonical UUIDs are ignored (their
digit groups would otherwise read as one), and so are ISO 8601 dates and date-times
(``2026-12-03T09:01:23.456789+00:00``: their fourteen or more digits pass the Luhn check
one time in ten, so a cut-off or a delivery date would be refused at random). A security
code is any field named like one (``cvv``, ``cvc``, ``security_code``, ``card_code``...),
whatever its value. Callers name the field and never echo the value (nor a key that is
itself card data).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_TIMESTAMP = (
    r"(?<!\w)\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[Tt ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d{1,9})?)?"
    r"(?:[Zz]|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?(?!\w)"
)
# Digits that are never a card number, blanked in one pass before the search.
_NOT_CARD_NUMBERS = re.compile(f"{_UUID}|{_TIMESTAMP}")
_SEPARATOR = r"(?:[^\w]|_)"
# Digits joined by short separators: the candidates a card number is looked for in.
_DIGIT_RUN = re.compile(rf"\d(?:{_SEPARATOR}{{0,3}}\d)*")
_GROUP = re.compile(r"\d+")
_MIN_DIGITS, _MAX_DIGITS = 13, 19
_ASCII_DIGITS = "0123456789"
_SECURITY_CODE_NAMES = frozenset(
    {
        "cvv",
        "cvv2",
        "cvc",
        "cvc2",
        "cid",
        "csc",
        "cvd",
        "cvn",
        "cvn2",
        "cav2",
        "cve",
        "spc",
        "securitycode",
        "securitynumber",
        "cardcode",
        "cvvcode",
        "cvccode",
        "cvvnumber",
        "cvcnumber",
        "verificationcode",
        "verificationvalue",
        "verificationnumber",
        "cardverificationvalue",
        "cardverificationcode",
        "cardverificationnumber",
        "cardsecuritycode",
    }
)
_SECURITY_CODE_PREFIXES = ("card", "credit", "creditcard", "cc", "payment", "x")


def passes_luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _card_number_spans(text: str) -> Iterator[tuple[int, int]]:
    """Where card numbers are in ``text`` (start, end), UUIDs and timestamps blanked out
    first (same length, so the spans still index ``text``)."""
    if text.isascii() and sum(map(text.count, _ASCII_DIGITS)) < _MIN_DIGITS:
        return  # most values: too few digits for any card number, found without a regex
    text = _NOT_CARD_NUMBERS.sub(lambda m: " " * len(m.group()), text)
    for run in _DIGIT_RUN.finditer(text):
        if run.end() - run.start() < _MIN_DIGITS:
            continue  # too short to hold the digits of one (in a token: nearly every run)
        groups = list(_GROUP.finditer(run.group()))
        if sum(len(group.group()) for group in groups) < _MIN_DIGITS:
            continue  # e.g. an address and port: long, but too few digits
        base, first = run.start(), 0
        while first < len(groups):
            end = _card_number_ending_at(groups, first)
            if end is None:
                first += 1
                continue
            yield base + groups[first].start(), base + groups[end].end()
            first = end + 1


def _card_number_ending_at(groups: list[re.Match[str]], first: int) -> int | None:
    """The last group of a card number made of whole groups from ``first``, if any."""
    digits = ""
    for last in range(first, len(groups)):
        digits += groups[last].group()
        if len(digits) > _MAX_DIGITS:
            return None
        if len(digits) >= _MIN_DIGITS and passes_luhn(digits):
            return last
    return None


def looks_like_card_number(value: object) -> bool:
    """Whether a string (or integer) is, or contains, a Luhn-valid card number."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    return next(_card_number_spans(str(value)), None) is not None


@functools.lru_cache(maxsize=4096)  # the same header and field names come in every request
def names_security_code(name: str) -> bool:
    normalized = re.sub(r"[\W_]", "", name.lower())
    if normalized in _SECURITY_CODE_NAMES:
        return True
    return any(
        normalized.startswith(prefix) and normalized[len(prefix) :] in _SECURITY_CODE_NAMES
        for prefix in _SECURITY_CODE_PREFIXES
    )


def card_data_field(data: object, path: str = "") -> str | None:
    """The first field (dotted path) holding card data, if any. A key that is itself a card
    number is named ``<key>``, never echoed."""
    if isinstance(data, dict):
        for key, value in data.items():
            if looks_like_card_number(str(key)):
                return f"{path}.<key>" if path else "<key>"
            name = f"{path}.{key}" if path else str(key)
            if names_security_code(str(key)):
                return name
            found = card_data_field(value, name)
            if found is not None:
                return found
    elif isinstance(data, list | tuple):
        for index, item in enumerate(data):
            found = card_data_field(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    elif looks_like_card_number(data):
        return path or "body"
    return None


def redact_card_numbers(text: str) -> str:
    """``text`` with every card number replaced (for log lines)."""
    spans = list(_card_number_spans(text))
    for start, end in reversed(spans):
        text = text[:start] + "[card number]" + text[end:]
    return text
