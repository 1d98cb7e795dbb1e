"""How a customer pays an order, as the order keeps it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CardOnFile:
    """The processor's token for the card, its brand and its last four digits: never card
    data (PCI scope, ADR 0023)."""

    card_brand: str
    last_four: str
    payment_token: str
