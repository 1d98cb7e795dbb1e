"""The payment-gateway port: what the payments context needs from a card processor.

Every money-moving call takes an idempotency key: the same key returns the same result
and never moves money twice, so a caller may always retry with it. A call either returns
an answer (``Approved`` or ``Declined``) or raises: ``GatewayTimeout`` when no answer came in
time (the outcome is unknown: retry with the same key), ``RetryLater`` when the processor
asks to be called again (nothing happened), ``IdempotencyKeyMismatch`` when the key was
used for a different request (nothing happened).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.money import Money


@dataclass(frozen=True, slots=True)
class Approved:
    reference: str  # the processor's id for what it did (an authorization, a capture, ...)


@dataclass(frozen=True, slots=True)
class Declined:
    reason: str  # a stable, machine-readable reason such as "insufficient_funds"


GatewayResult = Approved | Declined


class GatewayError(Exception):
    """The processor gave no answer."""


class GatewayTimeout(GatewayError):
    """No answer in time; whether anything happened is unknown until a retry with the key."""


class RetryLater(GatewayError):
    """The processor asks to be called again (with the same key); nothing happened."""

    def __init__(self, retry_after_seconds: float = 0.0) -> None:
        super().__init__(f"retry after {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


class IdempotencyKeyMismatch(GatewayError):
    """The key was used before for a different request; nothing happened."""


class PaymentGateway(Protocol):
    def authorize(self, *, amount: Money, token: str, idempotency_key: str) -> GatewayResult:
        """Reserve ``amount`` on the card behind ``token``."""
        ...

    def capture(self, *, authorization: str, amount: Money, idempotency_key: str) -> GatewayResult:
        """Take ``amount`` (at most what was authorized) of an authorization."""
        ...

    def void(self, *, authorization: str, idempotency_key: str) -> GatewayResult:
        """Release an authorization that was not captured."""
        ...

    def refund(self, *, authorization: str, amount: Money, idempotency_key: str) -> GatewayResult:
        """Give back ``amount`` of what was captured."""
        ...
