"""Money as both APIs write it: ``{"amount": "34.90", "minor": 3490, "currency": "EUR"}``.

``amount`` is the decimal string the command API takes; ``minor`` the same in minor units
(what the search's ``min_price``/``max_price`` compare with). The command API accepts either
or both, so an amount read can be sent back as it is (ADR 0034).
"""

from __future__ import annotations

from typing import Any

from domain.money import Money


def money(minor: int | None, currency: str | None) -> dict[str, Any] | None:
    if minor is None or currency is None:
        return None
    return {"amount": str(Money(int(minor), currency).amount), "minor": minor, "currency": currency}
