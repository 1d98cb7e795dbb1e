"""Payment history: pure folding of payments envelopes into row operations (no I/O).

One row per payment (``PaymentRow``: its order, status, amounts, card brand and last four),
one entry per payment event (``PaymentEntry``), and the customer of each order
(``OrderCustomer``, from ``orders.OrderPlaced``: payments do not know their customer, the
order does). Per customer, the sink joins payments to their orders' customers.

Idempotent: an envelope at or below the version the payment row holds changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from contract.envelope import Envelope
from projections.sql_values import integer, money, text, timestamp

CONTEXTS = ("payments", "orders")
CREATED = {
    "payments.PaymentAuthorized": "authorized",
    "payments.PaymentAuthorizationDeclined": "declined",
}
SHOWN = frozenset(
    {*CREATED, "payments.PaymentCaptured", "payments.PaymentVoided", "payments.PaymentRefunded"}
)


@dataclass(frozen=True, slots=True)
class PaymentRow:
    payment_id: UUID
    order_id: UUID
    status: str
    amount_minor: int
    currency: str
    captured_minor: int
    refunded_minor: int
    card_brand: str
    last_four: str
    decline_reason: str | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class PaymentEntry:
    payment_id: UUID
    version: int
    kind: str
    occurred_at: datetime
    amount_minor: int | None
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OrderCustomer:
    order_id: UUID
    customer_id: UUID


@dataclass(frozen=True, slots=True)
class Change:
    payment: PaymentRow | None = None
    entry: PaymentEntry | None = None
    customer: OrderCustomer | None = None


def apply(payment: PaymentRow | None, envelope: Envelope) -> Change | None:
    """The rows to write after ``envelope`` (``payment`` is its payment's current row), or
    None. Raises KeyError, TypeError or ValueError for a payload it can never apply."""
    payload = envelope.payload
    if envelope.type == "orders.OrderPlaced":
        order_id = UUID(envelope.aggregate_id)
        return Change(customer=OrderCustomer(order_id, UUID(str(payload["customer_id"]))))
    if envelope.context != "payments":
        return None
    payment_id = UUID(envelope.aggregate_id)
    version = integer(envelope.aggregate_version)
    if not 1 <= version < 2**31:
        raise ValueError(f"aggregate_version {version} is out of range")
    if payment is not None and payment.version >= version:
        return None
    at = timestamp(envelope.occurred_at)

    def entry(kind: str, amount: int | None = None, **detail: Any) -> PaymentEntry:
        return PaymentEntry(payment_id, version, kind, at, amount, detail)

    if envelope.type in CREATED:
        amount, currency = money(payload["amount"])
        status = CREATED[envelope.type]
        reason = text(payload["reason"]) if status == "declined" else None
        row = PaymentRow(
            payment_id=payment_id,
            order_id=UUID(str(payload["order_id"])),
            status=status,
            amount_minor=amount,
            currency=currency,
            captured_minor=0,
            refunded_minor=0,
            card_brand=text(payload["card_brand"]),
            last_four=text(payload["last_four"]),
            decline_reason=reason,
            created_at=at,
            updated_at=at,
            version=version,
        )
        return Change(row, entry(status, amount, **({"reason": reason} if reason else {})))
    if payment is None:  # the payment's first event was dead-lettered: nothing to fold onto
        return None
    moved = replace(payment, updated_at=at, version=version)
    match envelope.type:
        case "payments.PaymentCaptured":
            amount, _ = money(payload["amount"])
            row = replace(moved, status="captured", captured_minor=amount)
            return Change(row, entry("captured", amount))
        case "payments.PaymentVoided":
            return Change(replace(moved, status="voided"), entry("voided"))
        case "payments.PaymentRefunded":
            amount, _ = money(payload["amount"])
            refunded = payment.refunded_minor + amount
            status = "refunded" if refunded >= payment.captured_minor else payment.status
            row = replace(moved, status=status, refunded_minor=refunded)
            refund_id = str(UUID(str(payload["refund_id"])))
            return Change(row, entry("refunded", amount, refund_id=refund_id))
        case _:
            return Change(moved)
