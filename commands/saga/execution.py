"""The order saga's steps carried out against the applications, each idempotent where it lands.

Every command is keyed by the order and the step (``facts.saga_key``): the reservation is the
order's, the payment's id is the one payments names for ``saga/<order>/authorize``, captures,
voids, refunds and restocks carry keys of the same shape, and the processor sees keys derived
from them (ADR 0007); every aggregate checks its state (a second reservation for the order is
a no-op, a confirmed order cannot be confirmed twice).

Gateway calls that get no answer are retried a bounded number of times with back-off (same
key), then refused (``Refused``: the saga compensates). Steps that must happen in the end
(voiding, paying a refund back) are never given up: ``Stalled``, they are retried later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from commands.base import VersionConflict
from commands.observers import SagaObserver
from commands.payments.application import GatewayTimedOut, GatewayUnavailable, PaymentDeclined
from commands.saga import steps
from commands.saga.facts import (
    CANCEL_RESTOCK,
    FactsReader,
    PendingRefund,
    lines_of,
    refund_pay_back,
    refund_restock,
    restock_key,
    saga_key,
)
from commands.saga.steps import Failure, Step
from domain.errors import Conflict, DomainError
from domain.inventory import InsufficientStock, NoReservation

log = logging.getLogger(__name__)
T = TypeVar("T")


class Refused(Exception):
    """A step was refused for good: compensate."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.kind)
        self.failure = failure


class Stalled(Exception):
    """A step that must happen could not happen now: try again later."""


class StepExecutor:
    def __init__(
        self,
        reader: FactsReader,
        *,
        gateway_attempts: int,
        retry_seconds: float,
        sleep: Callable[[float], None],
        observer: SagaObserver,
    ) -> None:
        self.reader = reader
        self.apps = reader.apps
        self.gateway_attempts = gateway_attempts
        self.retry_seconds = retry_seconds
        self.sleep = sleep
        self.observer = observer

    def execute(self, step: Step, order_id: UUID) -> None:
        match step:
            case steps.ReserveStock():
                self._reserve(order_id)
            case steps.MarkStockReserved():
                self.apps.orders.mark_stock_reserved(order_id)
            case steps.AuthorizePayment():
                self._authorize(order_id)
            case steps.MarkPaymentAuthorized():
                self.apps.orders.mark_payment_authorized(order_id, self.reader.payment_id(order_id))
            case steps.CapturePayment():
                key = saga_key(order_id, "capture")
                payment_id = self.reader.payment_id(order_id)
                self._gateway("capture", lambda: self.apps.payments.capture(payment_id, None, key))
            case steps.CommitStock():
                try:
                    self.apps.inventory.commit(order_id, self._skus(order_id))
                except NoReservation:
                    raise Refused(Failure("no_reservation")) from None
            case steps.Confirm():
                self.apps.orders.confirm(order_id)
            case steps.Cancel(reason=reason, expected_version=version):
                self.apps.orders.cancel(order_id, reason, version)
            case steps.ReleaseStock():
                self.apps.inventory.release(order_id, self._skus(order_id))
            case steps.VoidPayment():
                key = saga_key(order_id, "void")
                payment_id = self.reader.payment_id(order_id)
                self._must(lambda: self.apps.payments.void(payment_id, key))
            case steps.RefundPayment(amount=amount):
                key = saga_key(order_id, "cancel-refund")
                payment_id = self.reader.payment_id(order_id)
                self._must(lambda: self.apps.payments.refund(payment_id, amount, key))
            case steps.RestockCancelled():
                order = self.apps.orders.get_order(order_id)
                self._restock(order_id, CANCEL_RESTOCK, lines_of(order))
            case steps.PayBackRefund(refund=pending):
                self._pay_back(order_id, pending)
            case steps.RestockRefund(refund=pending):
                self._restock(order_id, refund_restock(pending.refund_id), pending.restock)
            case steps.RecordRefund(refund=pending):
                self.apps.orders.record_refund(order_id, pending.refund_id, pending.amount)
            case steps.RejectRefund(refund=pending, reason=reason):
                self.apps.orders.reject_refund(order_id, pending.refund_id, reason)
            case steps.AwaitPaymentMethod():
                raise ValueError("waiting is not carried out: the saga sets a timer")

    def _reserve(self, order_id: UUID) -> None:
        order = self.apps.orders.get_order(order_id)
        units = {line.sku: line.quantity for line in order.lines}
        try:
            self.apps.inventory.reserve(order_id, units, at=self.reader.clock())
        except InsufficientStock as e:
            raise Refused(Failure("out_of_stock", skus=tuple(e.skus))) from None

    def _authorize(self, order_id: UUID) -> None:
        order = self.apps.orders.get_order(order_id)
        method = order.payment_method
        assert method is not None
        key = saga_key(order_id, "authorize")
        self._gateway(
            "authorize",
            lambda: self.apps.payments.authorize(
                order_id,
                order.total,
                payment_token=method["payment_token"],
                card_brand=method["card_brand"],
                last_four=method["last_four"],
                key=key,
            ),
        )

    def _pay_back(self, order_id: UUID, pending: PendingRefund) -> None:
        if self.reader.payment(order_id) is None:
            raise Refused(Failure("declined", "the order has no payment to refund"))
        key = saga_key(order_id, refund_pay_back(pending.refund_id))
        payment_id = self.reader.payment_id(order_id)
        try:
            self._gateway(
                "refund", lambda: self.apps.payments.refund(payment_id, pending.amount, key)
            )
        except Refused as refused:
            if refused.failure.kind == "unavailable":  # the customer is owed it: keep trying
                raise Stalled(refused.failure.detail) from None
            raise
        except DomainError as e:
            if isinstance(e, Conflict | VersionConflict):
                raise
            raise Refused(Failure("declined", str(e))) from None

    def _gateway(self, what: str, call: Callable[[], T]) -> T:
        """A gateway step: no answer is retried (same key) a few times, then it is refused."""
        wait = self.retry_seconds
        for attempt in range(1, self.gateway_attempts + 1):
            started = time.perf_counter()
            try:
                answer = call()
            except PaymentDeclined as e:
                self.observer.gateway(what, "declined", time.perf_counter() - started)
                raise Refused(Failure("declined", e.reason)) from None
            except (GatewayTimedOut, GatewayUnavailable) as e:
                self.observer.gateway(what, "no_answer", time.perf_counter() - started)
                log.warning(
                    "%s: no answer (attempt %d/%d): %s", what, attempt, self.gateway_attempts, e
                )
                if attempt < self.gateway_attempts:
                    self.sleep(wait)
                    wait *= 2
            else:
                self.observer.gateway(what, "approved", time.perf_counter() - started)
                return answer
        raise Refused(Failure("unavailable", f"no answer after {self.gateway_attempts} attempts"))

    def _must(self, call: Callable[[], T]) -> T:
        """A gateway step that must happen in the end: if it cannot happen now (no answer,
        or a refusal someone has to look at), it is tried again later."""
        try:
            return self._gateway("compensation", call)
        except Refused as refused:
            raise Stalled(f"{refused.failure.kind}: {refused.failure.detail}") from None

    def _restock(self, order_id: UUID, step: str, units: dict[str, int]) -> None:
        for sku, quantity in sorted(units.items()):
            self.apps.inventory.receive(sku, quantity, restock_key(order_id, step, sku))

    def _skus(self, order_id: UUID) -> list[str]:
        order = self.apps.orders.get_order(order_id)
        return sorted(line.sku for line in order.lines)
