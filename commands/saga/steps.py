"""The steps of the order saga: one small value per kind, each carrying only what it needs.

``plan.decide`` returns one; ``execution.StepExecutor`` matches on its type. ``kind`` is the
step's name in logs and metrics (``shop_saga_steps_total{step=...}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from commands.saga.facts import PendingRefund
from domain.money import Money


@dataclass(frozen=True, slots=True)
class ReserveStock:
    kind: ClassVar[str] = "reserve_stock"


@dataclass(frozen=True, slots=True)
class MarkStockReserved:
    kind: ClassVar[str] = "mark_stock_reserved"


@dataclass(frozen=True, slots=True)
class AwaitPaymentMethod:
    """Waiting is a step too: it sets the timer, and then nothing happens until an event."""

    kind: ClassVar[str] = "await_payment_method"


@dataclass(frozen=True, slots=True)
class AuthorizePayment:
    kind: ClassVar[str] = "authorize_payment"


@dataclass(frozen=True, slots=True)
class MarkPaymentAuthorized:
    kind: ClassVar[str] = "mark_payment_authorized"


@dataclass(frozen=True, slots=True)
class CapturePayment:
    kind: ClassVar[str] = "capture_payment"


@dataclass(frozen=True, slots=True)
class CommitStock:
    kind: ClassVar[str] = "commit_stock"


@dataclass(frozen=True, slots=True)
class Confirm:
    kind: ClassVar[str] = "confirm"


@dataclass(frozen=True, slots=True)
class Cancel:
    kind: ClassVar[str] = "cancel"
    reason: str
    expected_version: int  # the order's as the decision saw it: it races the customer


@dataclass(frozen=True, slots=True)
class ReleaseStock:
    kind: ClassVar[str] = "release_stock"


@dataclass(frozen=True, slots=True)
class VoidPayment:
    kind: ClassVar[str] = "void_payment"


@dataclass(frozen=True, slots=True)
class RefundPayment:
    """What a cancelled order had captured and not yet refunded."""

    kind: ClassVar[str] = "refund_payment"
    amount: Money


@dataclass(frozen=True, slots=True)
class RestockCancelled:
    kind: ClassVar[str] = "restock_cancelled"


@dataclass(frozen=True, slots=True)
class PayBackRefund:
    kind: ClassVar[str] = "pay_back_refund"
    refund: PendingRefund


@dataclass(frozen=True, slots=True)
class RestockRefund:
    kind: ClassVar[str] = "restock_refund"
    refund: PendingRefund


@dataclass(frozen=True, slots=True)
class RecordRefund:
    kind: ClassVar[str] = "record_refund"
    refund: PendingRefund


@dataclass(frozen=True, slots=True)
class RejectRefund:
    kind: ClassVar[str] = "reject_refund"
    refund: PendingRefund
    reason: str


Step = (
    ReserveStock
    | MarkStockReserved
    | AwaitPaymentMethod
    | AuthorizePayment
    | MarkPaymentAuthorized
    | CapturePayment
    | CommitStock
    | Confirm
    | Cancel
    | ReleaseStock
    | VoidPayment
    | RefundPayment
    | RestockCancelled
    | PayBackRefund
    | RestockRefund
    | RecordRefund
    | RejectRefund
)


@dataclass(frozen=True, slots=True)
class Failure:
    """A refusal the saga cannot retry its way out of."""

    kind: str  # out_of_stock | declined | unavailable | no_reservation
    detail: str = ""
    skus: tuple[str, ...] = field(default_factory=tuple)
