"""The order saga at work: read the facts, carry out what ``plan.decide`` says, repeat.

``OrderSaga.advance(order_id)`` is the only entry point. It is called for every event that
concerns an order (and by the timer loop); it is idempotent, so calling it twice, or
after a crash half-way through a step, repeats no effect: every step is keyed by the order
and the step and checked by the aggregate it lands on (``execution``), and a step that lost
a race is decided again from fresh ``facts``. A step that must happen but cannot now is
retried later from the timer table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from commands.base import VersionConflict
from commands.metadata import caused_by
from commands.observers import NO_SAGA_OBSERVER, SagaObserver
from commands.saga import plan, steps
from commands.saga.deadlines import PAYMENT, RETRY, SagaDeadlines
from commands.saga.execution import Refused, Stalled, StepExecutor
from commands.saga.facts import Facts, FactsReader, SagaApplications
from commands.saga.plan import CheckedOutCart
from commands.saga.steps import Step
from domain.catalog import ProductStatus
from domain.errors import Conflict, NotFound
from domain.money import Money
from domain.orders import OrderStatus, order_id_for_cart
from domain.sku import sku_id

log = logging.getLogger(__name__)

LOCK_STRIPES = 64
# Steps after which the order is in a final state (orders by final state).
_FINAL: dict[type[Step], str] = {steps.Confirm: "confirmed", steps.Cancel: "cancelled"}
MAX_STEPS = 40  # a whole checkout is about ten; more means something keeps racing the saga


class OrderSaga:
    def __init__(
        self,
        apps: SagaApplications,
        deadlines: SagaDeadlines,
        *,
        payment_timeout: timedelta,
        gateway_attempts: int = 3,
        retry_seconds: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
        observer: SagaObserver = NO_SAGA_OBSERVER,
    ) -> None:
        self.apps = apps
        self.deadlines = deadlines
        self.payment_timeout = payment_timeout
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.observer = observer
        self.reader = FactsReader(apps, deadlines, clock)
        self.executor = StepExecutor(
            self.reader,
            gateway_attempts=gateway_attempts,
            retry_seconds=retry_seconds,
            sleep=sleep,
            observer=observer,
        )
        # One order at a time in this process (the timer and an event may meet); striped,
        # so the number of locks stays bounded however many orders there are.
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]

    # -- a checkout becomes an order (ADR 0025) ---------------------------------------------

    def place_order_for_cart(
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
            placed = order_id in self.apps.orders.repository
            prices = {} if placed else self._prices(checkout)
            placement = plan.place(checkout, prices, placed)
            if placement is not None:
                self.apps.orders.place_checkout(
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
                product = self.apps.catalog.get_product(sku_id(sku))
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
                facts = self.reader.facts(order_id)
                if facts is None:
                    return None
                step = plan.decide(facts)
                if step is None or isinstance(step, steps.AwaitPaymentMethod):
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
            return self.reader.facts(order_id)

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
            self.executor.execute(step, facts.order_id)
        except (Refused, Stalled, Conflict, VersionConflict):
            raise
        except Exception:
            self.observer.step(step.kind, "error")
            raise
        self.observer.step(step.kind, "ok")
        if type(step) in _FINAL:
            self.observer.finished(_FINAL[type(step)])

    def due(self, now: datetime) -> list[UUID]:
        """Orders whose timer is due (the timer loop advances them)."""
        return self.deadlines.due(now)

    def close(self) -> None:
        self.apps.close()

    def _lock(self, order_id: UUID) -> threading.Lock:
        return self._locks[order_id.int % LOCK_STRIPES]
