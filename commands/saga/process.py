"""The order saga at work: read the facts, carry out what ``plan.decide`` says, repeat.

``OrderSaga.advance(order_id)`` is the only entry point. It is called for every event that
concerns an order (and by the timer loop); it is idempotent, so calling it twice, or
after a crash half-way through a step, repeats no effect:

- every command it issues is keyed by the order and the step: the reservation is the
  order's, the payment's id derives from ``saga/<order>/authorize``, captures, voids,
  refunds and restocks carry keys of the same shape, and the processor sees keys derived
  from them (ADR 0007);
- every aggregate checks its state (a second reservation for the order is a no-op, a
  confirmed order cannot be confirmed twice), and a step that lost a race is decided again.

Gateway calls that get no answer are retried a bounded number of times with back-off
(same key), then compensated. Steps that must happen in the end (voiding, paying a
refund back) are never given up: they are retried later from the timer table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from commands.base import VersionConflict
from commands.catalog.application import CatalogApplication
from commands.inventory.application import InventoryApplication
from commands.inventory.models import OrderSkus, ReserveStock
from commands.metadata import caused_by
from commands.models import PositiveAmount
from commands.observers import NO_SAGA_OBSERVER, SagaObserver
from commands.orders.application import OrdersApplication
from commands.payments.application import (
    GatewayTimedOut,
    GatewayUnavailable,
    PaymentDeclined,
    PaymentsApplication,
)
from commands.payments.models import Authorize, Capture, Refund
from commands.saga import plan
from commands.saga.deadlines import PAYMENT, RETRY, SagaDeadlines
from commands.saga.plan import CheckedOutCart, Facts, Failure, PendingRefund, Step, Stock
from domain.catalog import ProductStatus
from domain.errors import Conflict, DomainError, NotFound
from domain.inventory import InsufficientStock, NoReservation, StockItem
from domain.money import Money
from domain.orders import Order, OrderStatus, order_id_for_cart
from domain.payments import Payment
from domain.sku import sku_id

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_STRIPES = 64
# Steps after which the order is in a final state (orders by final state).
_FINAL = {plan.CONFIRM: "confirmed", plan.CANCEL: "cancelled"}
MAX_STEPS = 40  # a whole checkout is about ten; more means something keeps racing the saga


class Refused(Exception):
    """A step was refused for good: compensate."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.kind)
        self.failure = failure


class Stalled(Exception):
    """A step that must happen could not happen now: try again later."""


class OrderSaga:
    def __init__(
        self,
        orders: OrdersApplication,
        inventory: InventoryApplication,
        payments: PaymentsApplication,
        deadlines: SagaDeadlines,
        *,
        catalog: CatalogApplication,
        payment_timeout: timedelta,
        gateway_attempts: int = 3,
        retry_seconds: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        observer: SagaObserver = NO_SAGA_OBSERVER,
    ) -> None:
        self.observer = observer
        self.orders = orders
        self.inventory = inventory
        self.payments = payments
        self.catalog = catalog
        self.deadlines = deadlines
        self.payment_timeout = payment_timeout
        self.gateway_attempts = gateway_attempts
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.sleep = sleep
        # One order at a time in this process (the timer and an event may meet); striped,
        # so the number of locks stays bounded however many orders there are.
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]

    # -- a checkout becomes an order (ADR 0025) ---------------------------------------------

    def check_out(
        self,
        cart_id: UUID,
        customer_id: UUID,
        lines: list[tuple[str, int]],
        correlation_id: str | None = None,
    ) -> UUID:
        """Place the order of a checked-out cart, once (its id derives from the cart), at the
        catalog's prices now; the order's id, for ``advance``."""
        checkout = CheckedOutCart(cart_id, customer_id, tuple(lines))
        order_id = order_id_for_cart(cart_id)
        with self._lock(order_id), caused_by(correlation_id or f"checkout-{cart_id}"):
            placed = order_id in self.orders.repository
            prices = {} if placed else self._prices(checkout)
            placement = plan.place(checkout, prices, placed)
            if placement is not None:
                self.orders.place_checkout(
                    placement.order_id,
                    placement.customer_id,
                    placement.cart_id,
                    placement.lines,
                    placement.cancel_reason,
                )
                log.info("saga %s: placed for cart %s", order_id, cart_id)
        return order_id

    def _prices(self, checkout: CheckedOutCart) -> dict[str, Money | None]:
        """Each SKU's catalog price now; None when there is no product on sale for it."""
        prices: dict[str, Money | None] = {}
        for sku, _ in checkout.lines:
            try:
                product = self.catalog.get_product(sku_id(sku))
            except NotFound:
                prices[sku] = None
                continue
            on_sale = product.status is ProductStatus.ACTIVE
            prices[sku] = product.price if on_sale else None
        return prices

    # -- the loop -------------------------------------------------------------------------

    def advance(self, order_id: UUID) -> Facts | None:
        """Take the order as far as it can go now; the facts it was left in (None if the
        order does not exist)."""
        with self._lock(order_id), caused_by(f"saga-{order_id}"):
            self.deadlines.clear(order_id, RETRY)
            for _ in range(MAX_STEPS):
                facts = self.facts(order_id)
                if facts is None:
                    return None
                step = plan.decide(facts)
                if step is None or step.kind in plan.WAITING:
                    if step is not None:
                        due = self.clock() + self.payment_timeout
                        self.deadlines.set(order_id, PAYMENT, due, keep_first=True)
                    elif facts.status not in (OrderStatus.PLACED, OrderStatus.STOCK_RESERVED):
                        self.deadlines.clear(order_id, PAYMENT)
                    return facts
                try:
                    self._run(step, facts)
                except Stalled as e:
                    self.observer.step(step.kind, "stalled")
                    log.warning("saga %s: %s stalled (%s); retrying later", order_id, step.kind, e)
                    due = self.clock() + timedelta(seconds=self.retry_seconds * 20)
                    self.deadlines.set(order_id, RETRY, due, keep_first=False)
                    return facts
            log.error(
                "saga %s: no rest after %d steps; the next event resumes it", order_id, MAX_STEPS
            )
            return self.facts(order_id)

    def _run(self, step: Step, facts: Facts) -> None:
        try:
            try:
                self._observed(step, facts)
            except Refused as refused:
                self.observer.step(step.kind, "refused")
                compensation = plan.compensate(step, refused.failure, facts)
                log.info("saga %s: %s refused (%s)", facts.order_id, step.kind, refused.failure)
                self._observed(compensation, facts)
        except (Conflict, VersionConflict) as e:
            # The order (or its stock) moved meanwhile: decide again from the new facts.
            self.observer.step(step.kind, "conflict")
            log.info("saga %s: %s met %s; deciding again", facts.order_id, step.kind, e)

    def _observed(self, step: Step, facts: Facts) -> None:
        """``execute``, told to the observer when it succeeds or fails unexpectedly (a
        refusal, a conflict or a stall is told by the caller that handles it)."""
        try:
            self.execute(step, facts)
        except (Refused, Stalled, Conflict, VersionConflict):
            raise
        except Exception:
            self.observer.step(step.kind, "error")
            raise
        self.observer.step(step.kind, "ok")
        if step.kind in _FINAL:
            self.observer.finished(_FINAL[step.kind])

    # -- what is true now -----------------------------------------------------------------

    def facts(self, order_id: UUID) -> Facts | None:
        try:
            order = self.orders.get_order(order_id)
        except NotFound:
            return None
        payment = self._payment(order_id)
        stock, items = self._stock(order)
        waiting = order.status is OrderStatus.STOCK_RESERVED and order.payment_method is None
        return Facts(
            order_id=order_id,
            status=order.status,
            version=order.version,
            has_payment_method=order.payment_method is not None,
            stock=stock,
            payment=payment.status if payment else None,
            decline_reason=payment.decline_reason if payment else None,
            captured=payment.captured if payment else None,
            refunded=payment.refunded if payment else None,
            pending_refunds=tuple(
                PendingRefund(
                    refund_id,
                    pending["amount"],
                    dict(pending["restock"]),
                    paid_back=payment is not None
                    and payment.already_did(self._effect_id(payment, "refund", refund_id)),
                    restocked=self._received(
                        items, order_id, f"restock/{refund_id}", pending["restock"]
                    ),
                )
                for refund_id, pending in order.pending_refunds.items()
            ),
            payment_deadline_passed=waiting
            and self.deadlines.passed(order_id, PAYMENT, self.clock()),
            cancel_restocked=order.status is not OrderStatus.CANCELLED
            or stock is not Stock.COMMITTED
            or self._received(items, order_id, "cancel-restock", self._lines(order)),
        )

    def due(self, now: datetime) -> list[UUID]:
        """Orders whose timer is due (the timer loop advances them)."""
        return self.deadlines.due(now)

    def close(self) -> None:
        for application in (self.orders, self.inventory, self.payments, self.catalog):
            application.close()

    def payment_id(self, order_id: UUID) -> UUID:
        return self.payments.idempotent_id(self._key(order_id, "authorize"))

    def _payment(self, order_id: UUID) -> Payment | None:
        payment_id = self.payment_id(order_id)
        if payment_id not in self.payments.repository:
            return None
        return self.payments.get_payment(payment_id)

    def _stock(self, order: Order) -> tuple[Stock, dict[str, StockItem]]:
        items: dict[str, StockItem] = {}
        states = set()
        for line in order.lines:
            try:
                item = self.inventory.get_stock_item(line.sku)
            except NotFound:
                states.add(Stock.NONE)
                continue
            items[line.sku] = item
            if str(order.id) in item.commitments:
                states.add(Stock.COMMITTED)
            elif item.reservation_for(order.id) == line.quantity:
                states.add(Stock.RESERVED)
            else:
                states.add(Stock.NONE)
        return (states.pop() if len(states) == 1 else Stock.NONE), items

    def _received(
        self, items: dict[str, StockItem], order_id: UUID, step: str, units: dict[str, int]
    ) -> bool:
        """Whether every restock receipt of this step is on its stock item."""
        for sku in units:
            item = items.get(sku)
            receipt = str(self.inventory.idempotent_id(self._key(order_id, f"{step}/{sku}")))
            if item is None or receipt not in item.effects:
                return False
        return True

    # -- doing it -------------------------------------------------------------------------

    def execute(self, step: Step, facts: Facts) -> None:
        order_id = facts.order_id
        match step.kind:
            case plan.RESERVE_STOCK:
                order = self.orders.get_order(order_id)
                lines = [{"sku": line.sku, "quantity": line.quantity} for line in order.lines]
                command = ReserveStock.model_validate(
                    {"order_id": order_id, "lines": lines}, strict=False
                )
                try:
                    self.inventory.reserve(command, at=self.clock())
                except InsufficientStock as e:
                    raise Refused(Failure("out_of_stock", skus=tuple(e.skus))) from None
            case plan.MARK_STOCK_RESERVED:
                self.orders.mark_stock_reserved(order_id)
            case plan.AUTHORIZE_PAYMENT:
                self._authorize(order_id)
            case plan.MARK_PAYMENT_AUTHORIZED:
                self.orders.mark_payment_authorized(order_id, self.payment_id(order_id))
            case plan.CAPTURE_PAYMENT:
                key = self._key(order_id, "capture")
                self._gateway(
                    "capture",
                    lambda: self.payments.capture(self.payment_id(order_id), Capture(), key),
                )
            case plan.COMMIT_STOCK:
                try:
                    self.inventory.commit(order_id, self._skus(order_id))
                except NoReservation:
                    raise Refused(Failure("no_reservation")) from None
            case plan.CONFIRM:
                self.orders.confirm(order_id)
            case plan.CANCEL:
                assert step.reason is not None
                self.orders.cancel(order_id, step.reason, step.expected_version)
            case plan.RELEASE_STOCK:
                self.inventory.release(order_id, self._skus(order_id))
            case plan.VOID_PAYMENT:
                key = self._key(order_id, "void")
                self._must(lambda: self.payments.void(self.payment_id(order_id), key))
            case plan.REFUND_PAYMENT:
                assert step.amount is not None
                refund = Refund(amount=_amount(step.amount))
                key = self._key(order_id, "cancel-refund")
                self._must(lambda: self.payments.refund(self.payment_id(order_id), refund, key))
            case plan.RESTOCK_CANCELLED:
                order = self.orders.get_order(order_id)
                self._restock(order_id, "cancel-restock", self._lines(order))
            case plan.PAY_BACK_REFUND:
                self._pay_back(order_id, _pending(step))
            case plan.RESTOCK_REFUND:
                pending = _pending(step)
                self._restock(order_id, f"restock/{pending.refund_id}", pending.restock)
            case plan.RECORD_REFUND:
                pending = _pending(step)
                self.orders.record_refund(order_id, pending.refund_id, pending.amount)
            case plan.REJECT_REFUND:
                assert step.reason is not None
                self.orders.reject_refund(order_id, _pending(step).refund_id, step.reason)
            case _:
                raise ValueError(f"the saga has no step {step.kind!r}")

    def _authorize(self, order_id: UUID) -> None:
        order = self.orders.get_order(order_id)
        method = order.payment_method
        assert method is not None
        command = Authorize.model_validate(
            {"order_id": order_id, "amount": _amount(order.total), **method}, strict=False
        )
        key = self._key(order_id, "authorize")
        self._gateway("authorize", lambda: self.payments.authorize(command, key))

    def _pay_back(self, order_id: UUID, pending: PendingRefund) -> None:
        if self._payment(order_id) is None:
            raise Refused(Failure("declined", "the order has no payment to refund"))
        refund = Refund(amount=_amount(pending.amount))
        key = self._key(order_id, f"refund/{pending.refund_id}")
        try:
            self._gateway(
                "refund", lambda: self.payments.refund(self.payment_id(order_id), refund, key)
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
            self.inventory.receive(sku, quantity, self._key(order_id, f"{step}/{sku}"))

    def _skus(self, order_id: UUID) -> OrderSkus:
        order = self.orders.get_order(order_id)
        return OrderSkus(skus=sorted(line.sku for line in order.lines))

    @staticmethod
    def _lines(order: Order) -> dict[str, int]:
        return {line.sku: line.quantity for line in order.lines}

    @staticmethod
    def _key(order_id: UUID, step: str) -> str:
        """The key of everything the saga asks for: the order and the step."""
        return f"saga/{order_id}/{step}"

    def _effect_id(self, payment: Payment, kind: str, refund_id: UUID) -> UUID:
        """The id the payments context gives the effect of the saga's key (ADR 0005)."""
        key = self._key(payment.order_id, f"{kind}/{refund_id}")
        return self.payments.idempotent_id(f"{payment.id}/{kind}/{key}")

    def _lock(self, order_id: UUID) -> threading.Lock:
        return self._locks[order_id.int % LOCK_STRIPES]


def _pending(step: Step) -> PendingRefund:
    assert step.refund is not None
    return step.refund


def _amount(money: Money) -> PositiveAmount:
    return PositiveAmount(amount=money.amount, currency=money.currency)
