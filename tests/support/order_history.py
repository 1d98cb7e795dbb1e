"""Order history fixtures: a few orders in the real event store, projected into the read
schema batch by batch, and the read endpoints served in process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from fastapi.testclient import TestClient

from commands.orders.application import OrdersApplication
from contract.envelope import Envelope
from contract.watermark import complete_up_to
from domain.money import Money
from infra import bootstrap
from infra.http import install_problem_handlers
from infra.settings import Settings
from projections.sinks.postgres_orders import ORDER_HISTORY, OrderHistoryProjector
from read_api.orders import router
from streams.relay import envelopes
from tests.support.auth import as_admin, with_access
from tests.support.orders import deliver, place
from tests.support.pooled import pooled_app
from tests.support.projectors import apply_batches

ALICE = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9a01")
BOB = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9b02")


def a_few_orders(orders: OrdersApplication) -> dict[str, UUID]:
    """Alice: one delivered and partly refunded, one cancelled, one just placed. Bob: one."""
    delivered = place(orders, ALICE).id
    deliver(orders, delivered)
    orders.refund(delivered, Money(500, "EUR"), key="r1")
    cancelled = place(orders, ALICE, "5.00").id
    orders.mark_stock_reserved(cancelled)
    orders.cancel(cancelled, "found it cheaper")
    placed = place(orders, ALICE, "1.00").id
    bobs = place(orders, BOB).id
    return {"delivered": delivered, "cancelled": cancelled, "placed": placed, "bobs": bobs}


def the_log(orders: OrdersApplication) -> list[Envelope]:
    return envelopes(orders, orders.recorder.select_notifications(start=1, limit=100_000))


def project(settings: Settings, *batches: list[Envelope]) -> None:
    """The order history projector over ``batches`` in turn, as the worker runs it."""
    projector = OrderHistoryProjector(settings.database_url, settings.schema_for("read"))
    apply_batches(projector, *batches)


@contextmanager
def order_history_api(settings: Settings) -> Iterator[TestClient]:
    """The order history endpoints in process, called as an admin, with a 0.3 s wait for
    ``after=``; the applied position is what the projector's checkpoints say."""
    checkpoints = bootstrap.projection_checkpoints(settings)

    async def applied() -> int:
        positions = await checkpoints.positions(ORDER_HISTORY, "orders")
        return complete_up_to(positions, settings.kafka_partitions)

    api, pool = pooled_app(settings.database_url)
    api.include_router(router(pool.connection, settings.schema_for("read"), applied, 0.3))
    install_problem_handlers(api)
    with TestClient(with_access(api, settings), headers=as_admin(settings)) as client:
        yield client


def applied_up_to(settings: Settings, position: int) -> None:
    checkpoints = bootstrap.projection_checkpoints(settings)
    every_partition = dict.fromkeys(range(settings.kafka_partitions), position)
    asyncio.run(checkpoints.advance(ORDER_HISTORY, "orders", every_partition))
