"""The order saga as a Faust app of its own (``shop saga``; ADR 0010, 0025).

Its own consumer group, so a crash or a restart of the saga never stalls the read models
and the other way round. It follows the carts topic (a checked-out cart is placed as an
order), the orders topic (every order event moves its order on) and the inventory topic
(a reservation released or expired behind the saga's back), and runs a timer loop over
the saga's deadlines table. Each batch is reduced to the set of
orders it concerns, and each order is advanced once, at most a few at a time; offsets are
committed only after the batch, and advancing is idempotent, so a crash at any point
redelivers and repeats nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import faust
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from contract.envelope import Envelope, MalformedEnvelope
from contract.trace_context import context_of, envelope_context
from contract.watermark import watermark_of
from streams.batches import batches
from streams.faust_app import faust_app
from streams.tracing import process_span

log = logging.getLogger(__name__)

# Inventory events that can leave an order without the stock the saga reserved for it.
_STOCK_LOST = frozenset({"inventory.StockItemReleased", "inventory.StockItemReservationExpired"})
CHECKED_OUT = "carts.CartCheckedOut"


@dataclass(frozen=True)
class SagaConfig:
    app_id: str
    broker: str
    topics: Mapping[str, str]  # context → topic (carts, orders, inventory)
    datadir: str
    session_timeout: float = 6.0
    timer_seconds: float = 1.0
    batch_size: int = 200
    batch_seconds: float = 0.01  # see Settings.stream_flush_seconds
    fetch_max_wait_ms: int = 1500  # see Settings.kafka_fetch_max_wait_ms
    concurrency: int = 8


@dataclass(frozen=True)
class CheckoutMessage:
    """A checked-out cart, as its event tells it: who buys what (no prices)."""

    cart_id: UUID
    customer_id: UUID
    lines: list[tuple[str, int]]
    correlation_id: str | None = None
    traceparent: str | None = None
    tracestate: str | None = None


class Saga(Protocol):
    def advance(self, order_id: UUID) -> object: ...

    def place_order_for_cart(
        self,
        cart_id: UUID,
        customer_id: UUID,
        lines: list[tuple[str, int]],
        correlation_id: str | None = None,
    ) -> UUID: ...

    def due(self, now: datetime) -> list[UUID]: ...


def order_ids(envelope: Envelope) -> set[UUID]:
    """The orders an integration event concerns, as far as the saga cares."""
    if envelope.context == "orders":
        return {UUID(envelope.aggregate_id)}
    if envelope.type in _STOCK_LOST:
        return {UUID(str(envelope.payload["order_id"]))}
    return set()


def checkout_of(envelope: Envelope) -> CheckoutMessage | None:
    """The checkout an integration event tells of, if it is one."""
    if envelope.type != CHECKED_OUT:
        return None
    payload = envelope.payload
    lines = [(str(line["sku"]), int(line["quantity"])) for line in payload["lines"]]
    if not lines:
        raise ValueError("a checkout without lines")
    return CheckoutMessage(
        UUID(envelope.aggregate_id),
        UUID(str(payload["customer_id"])),
        lines,
        envelope.correlation_id,
        envelope.traceparent,
        envelope.tracestate,
    )


def build_saga_app(
    config: SagaConfig,
    make_saga: Callable[[], Saga],
    ticked: Callable[[], None] = lambda: None,
) -> faust.App:
    """The saga's Faust app; ``ticked`` is called on every run of the deadline timer (a
    health check watches it)."""
    app = faust_app(config)
    runner = _Runner(make_saga, config.concurrency, config.app_id)

    for context, name in config.topics.items():
        topic = app.topic(name, key_serializer="raw", value_serializer="raw")

        async def follow(stream: Any, context: str = context, name: str = name) -> None:
            async for events in batches(stream, config.batch_size, config.batch_seconds):
                orders, checkouts, traces = _read(events, context)
                # Placed first, so the batch's offsets are committed only once they are.
                orders |= await runner.place_all(checkouts, name)
                await runner.advance_all(orders, name, traces)

        app.agent(topic, name=f"saga.{context}")(follow)

    async def deadlines() -> None:
        ticked()
        try:
            saga = await runner.saga()
            due = await runner.in_thread(saga.due, datetime.now(UTC))
        except Exception:  # the next tick tries again; the timers are in Postgres
            log.exception("saga: reading the deadlines failed")
            return
        await runner.advance_all(due)

    app.timer(interval=config.timer_seconds)(deadlines)

    return app


def _read(
    events: Iterable[Any], context: str
) -> tuple[set[UUID], list[CheckoutMessage], dict[UUID, list[Context | None]]]:
    """The orders a batch concerns, the checkouts in it (each cart once), and the trace
    contexts of the events that concern each order."""
    found: set[UUID] = set()
    checkouts: dict[UUID, CheckoutMessage] = {}
    traces: dict[UUID, list[Context | None]] = {}
    for event in events:
        if watermark_of(event.message.headers) is not None:
            continue
        try:
            envelope = Envelope.from_json(event.value)
            concerned = order_ids(envelope)
            checkout = checkout_of(envelope)
        except (MalformedEnvelope, KeyError, TypeError, ValueError) as e:
            # The projector worker parks the same message on the dead-letter topic.
            log.error("saga: skipping an unreadable %s event: %s", context, e)
            continue
        found |= concerned
        trace = envelope_context(envelope, event.message.headers)
        for order_id in concerned:
            traces.setdefault(order_id, []).append(trace)
        if checkout is not None:
            checkouts.setdefault(checkout.cart_id, checkout)
    return found, list(checkouts.values()), traces


class _Runner:
    """Advances orders on a thread pool (the applications are synchronous), a few at a time;
    an infrastructure failure is waited out, never skipped."""

    def __init__(self, make_saga: Callable[[], Saga], concurrency: int, group: str = "") -> None:
        self._make_saga = make_saga
        self._group = group
        self._saga: Saga | None = None
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="saga")
        self._slots = asyncio.Semaphore(concurrency)
        self._building = asyncio.Lock()

    async def saga(self) -> Saga:
        """The saga, built on first use; a failure to build it is waited out."""
        async with self._building:
            delay = 0.5
            while self._saga is None:
                try:
                    self._saga = await self.in_thread(self._make_saga)
                except Exception:
                    log.exception("saga: starting failed; retrying in %.1fs", delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
            return self._saga

    async def in_thread(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, call, *args)

    async def place_all(self, checkouts: Iterable[CheckoutMessage], topic: str = "") -> set[UUID]:
        """Place each checkout's order; the orders' ids."""
        saga = await self.saga()
        placed = await asyncio.gather(
            *(
                self._persist(
                    f"checkout of cart {c.cart_id}",
                    self._traced(
                        "place order",
                        topic,
                        [envelope_context_of(c)],
                        saga.place_order_for_cart,
                        {"shop.cart_id": str(c.cart_id)},
                    ),
                    c.cart_id,
                    c.customer_id,
                    c.lines,
                    c.correlation_id,
                )
                for c in checkouts
            )
        )
        return {order_id for order_id in placed if isinstance(order_id, UUID)}

    async def advance_all(
        self,
        order_ids: Iterable[UUID],
        topic: str = "",
        traces: Mapping[UUID, list[Context | None]] | None = None,
    ) -> None:
        saga = await self.saga()
        traces = traces or {}
        await asyncio.gather(
            *(
                self._persist(
                    f"order {order_id}",
                    self._traced(
                        "advance order",
                        topic,
                        traces.get(order_id, []),
                        saga.advance,
                        {"shop.order_id": str(order_id)},
                    ),
                    order_id,
                )
                for order_id in order_ids
            )
        )

    def _traced(
        self,
        name: str,
        topic: str,
        contexts: list[Context | None],
        call: Callable[..., Any],
        attributes: dict[str, str],
    ) -> Callable[..., Any]:
        """``call`` inside a consumer span continuing the events' traces (ADR 0030), so the
        commands the saga sends carry the trace on; a timer's step (no events) gets none."""
        if not contexts or not topic:
            return call

        def traced(*args: Any) -> Any:
            token = otel_context.attach(Context())  # the pool thread's context is not ours
            try:
                with process_span(name, topic, self._group, contexts, **attributes):
                    return call(*args)
            finally:
                otel_context.detach(token)

        return traced

    async def _persist(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        """Call until it succeeds: an infrastructure failure is waited out, never skipped."""
        delay = 0.5
        async with self._slots:
            while True:
                try:
                    return await self.in_thread(call, *args)
                except Exception:
                    log.exception("saga: %s failed; retrying in %.1fs", what, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)


def envelope_context_of(checkout: CheckoutMessage) -> Context | None:
    return context_of(checkout.traceparent, checkout.tracestate)
