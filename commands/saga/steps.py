"""The steps of the order saga: one small frozen value per kind, each with only what it needs.

``plan.decide`` returns one; ``execution.StepExecutor`` matches on its type. ``kind`` is the
step's name in logs and metrics (``shop_saga_steps_total{step=...}``): its class's name in
snake case (``ReserveStock`` is ``reserve_stock``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from commands.saga.facts import PendingRefund
from domain.money import Money


@dataclass(frozen=True, slots=True)
class _Step:
    @property
    def kind(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()


# The steps that need nothing but the order.
class ReserveStock(_Step): ...


class MarkStockReserved(_Step): ...


class AwaitPaymentMethod(_Step): ...  # sets the timer, then nothing happens until an event


class AuthorizePayment(_Step): ...


class MarkPaymentAuthorized(_Step): ...


class CapturePayment(_Step): ...


class CommitStock(_Step): ...


class Confirm(_Step): ...


class ReleaseStock(_Step): ...


class VoidPayment(_Step): ...


class RestockCancelled(_Step): ...  # committed units of a cancelled order put back


@dataclass(frozen=True, slots=True)
class Cancel(_Step):
    reason: str
    expected_version: int  # the order's as the decision saw it: it races the customer


@dataclass(frozen=True, slots=True)
class RefundPayment(_Step):
    """What a cancelled order had captured and not yet refunded."""

    amount: Money


@dataclass(frozen=True, slots=True)
class _RefundStep(_Step):
    refund: PendingRefund


# A requested refund: money back, then units back, then the order records it (or rejects it).
class PayBackRefund(_RefundStep): ...


class RestockRefund(_RefundStep): ...


class RecordRefund(_RefundStep): ...


@dataclass(frozen=True, slots=True)
class RejectRefund(_RefundStep):
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
