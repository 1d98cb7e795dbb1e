"""Order history in Postgres: the sink, the rebuild and the worker, against the real servers
of the embedded stack (the read endpoints: test_order_history_api.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from commands.orders.application import OrdersApplication
from contract.envelope import Envelope
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.provision import provision
from infra.read_models import rebuild
from infra.settings import Settings
from projections.sinks.postgres_orders import (
    ORDER_HISTORY,
    OrderHistoryProjector,
    OrderHistoryTables,
)
from tests.support.order_history import (
    ALICE,
    BOB,
    a_few_orders,
    order_history_api,
    project,
    the_log,
)
from tests.support.orders import deliver, place
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration

Snapshot = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


@pytest.fixture
def read_api(settings: Settings) -> Iterator[TestClient]:
    with order_history_api(settings) as client:
        yield client


def snapshot(settings: Settings) -> Snapshot:
    schema = settings.schema_for("read")
    with psycopg.connect(settings.database_url) as conn:
        orders = conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY order_id").format(sql.Identifier(schema, "orders"))
        ).fetchall()
        timeline = conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY order_id, version").format(
                sql.Identifier(schema, "order_timeline")
            )
        ).fetchall()
    return orders, timeline


def event_store_orders(settings: Settings) -> dict[UUID, tuple[Any, ...]]:
    """What the event store says: id → (customer, status, total, refunded, version)."""
    app = bootstrap.application(settings, "orders")
    assert isinstance(app, OrdersApplication)
    try:
        ids = {UUID(str(n.originator_id)) for n in app.recorder.select_notifications(1, 100_000)}
        found = (app.get_order(i) for i in ids)
        return {
            o.id: (o.customer_id, o.status.value, o.total.minor, o.refunded.minor, o.version)
            for o in found
        }
    finally:
        app.close()


def projected_orders(settings: Settings) -> dict[UUID, tuple[Any, ...]]:
    try:
        rows, timeline = snapshot(settings)
    except psycopg.errors.UndefinedTable:
        return {}
    entries = {(order_id, version) for order_id, version, *_ in timeline}
    return {
        order_id: (customer, status, total, refunded, version)
        for order_id, customer, status, total, _, refunded, _, _, version, *_ in rows
        # an order counts as projected once its whole timeline is there
        if all((order_id, v) in entries for v in range(1, version + 1))
    }


def test_delivering_every_event_twice_leaves_the_tables_identical(
    settings: Settings, orders: OrdersApplication
) -> None:
    a_few_orders(orders)
    log = the_log(orders)
    project(settings, log)
    once = snapshot(settings)

    project(settings, log, log[:7], log[3:], log[-1:])

    assert snapshot(settings) == once
    assert len(once[0]) == 4
    assert len(once[1]) == len(log)


def test_the_tables_hold_what_the_event_store_says(
    settings: Settings, orders: OrdersApplication
) -> None:
    ids = a_few_orders(orders)
    log = the_log(orders)
    project(settings, log[:5], log[5:9], log[9:])  # batches cut through orders

    assert projected_orders(settings) == event_store_orders(settings)
    rows = {row[0]: row for row in snapshot(settings)[0]}
    assert rows[ids["delivered"]][2:6] == ("delivered", 3998, "EUR", 500)
    assert rows[ids["cancelled"]][2] == "cancelled"


# --- rebuild and the worker -----------------------------------------------------------


def test_a_rebuild_equals_the_live_read_model_and_drops_what_the_log_does_not_say(
    settings: Settings, orders: OrdersApplication
) -> None:
    a_few_orders(orders)
    log = the_log(orders)
    project(settings, log[:3], log[3:])
    live = snapshot(settings)
    project(settings, place_elsewhere(settings))
    assert len(snapshot(settings)[0]) == 5

    assert asyncio.run(rebuild(settings, ORDER_HISTORY)).positions == {"orders": log[-1].position}

    assert snapshot(settings) == live


def test_the_live_projector_waits_for_a_rebuild_and_then_applies_on_top_of_it(
    settings: Settings, orders: OrdersApplication
) -> None:
    order_id = place(orders, ALICE).id
    orders.mark_stock_reserved(order_id)
    placed, reserved = the_log(orders)
    project(settings, [placed])
    tables = OrderHistoryTables(settings.schema_for("read"))

    async def race() -> None:
        async with await psycopg.AsyncConnection.connect(
            settings.database_url, autocommit=True
        ) as rebuild:
            async with rebuild.transaction():
                await tables.clear(rebuild)
                await tables.apply(rebuild, [placed])
                live = OrderHistoryProjector(settings.database_url, settings.schema_for("read"))
                applying = asyncio.create_task(live.apply([reserved]))
                await asyncio.sleep(0.5)
                assert not applying.done()  # it waits instead of folding onto deleted rows
            await applying

    asyncio.run(race())

    (row,), timeline = snapshot(settings)
    assert (row[2], row[8]) == ("stock_reserved", 2)
    assert [entry[1] for entry in timeline] == [1, 2]


def place_elsewhere(settings: Settings) -> list[Envelope]:
    """An order from another namespace's log: the rebuild of this one must drop it."""
    other = settings.model_copy(update={"namespace": f"{settings.namespace}x"})
    provision(other)
    app = bootstrap.application(other, "orders")
    assert isinstance(app, OrdersApplication)
    try:
        place(app, ALICE)
        return the_log(app)
    finally:
        app.close()


def test_orders_moved_through_the_application_appear_in_the_history_and_survive_a_killed_worker(
    settings: Settings, orders: OrdersApplication, processes: Supervisor, read_api: TestClient
) -> None:
    ids = a_few_orders(orders)
    start(processes, settings, "relay")
    start(processes, settings, "worker")
    eventually(
        lambda: ids["delivered"] in projected_orders(settings),
        timeout=90,
        what="the first orders are projected",
    )

    def keep_ordering() -> None:
        for i in range(30):
            order_id = place(orders, BOB if i % 2 else ALICE, f"{i + 1}.00").id
            if i % 3:
                deliver(orders, order_id)
            else:
                orders.cancel(order_id, f"reason {i}")

    writer = threading.Thread(target=keep_ordering)
    writer.start()
    for seen in (4, 8):

        def progressed(seen: int = seen) -> bool:
            return len(projected_orders(settings)) >= seen

        eventually(progressed, timeout=90, what="the worker makes progress")
        os.kill(processes._child("worker").process.pid, signal.SIGKILL)
        processes.stop("worker")
        start(processes, settings, "worker")
    writer.join()
    last = deliver(orders, place(orders, ALICE, "99.00").id)

    expected = event_store_orders(settings)
    assert len(expected) == 35

    # Read-your-writes through the endpoint: stale (and saying so) until the last command
    # is applied in every partition, then its result.
    def answered_fresh() -> Any:
        response = read_api.get(
            f"/customers/{ALICE}/orders", params={"after": last.position, "limit": 1}
        )
        return response.headers["Shop-Stale"] == "false" and response

    mine = eventually(answered_fresh, timeout=60, what="the history applied the last command")
    (newest,) = mine.json()["items"]
    assert (newest["id"], newest["status"]) == (str(last.id), "delivered")
    order = read_api.get(f"/orders/{last.id}").json()
    assert [e["status"] for e in order["timeline"]][::5] == ["placed", "delivered"]
    # Complete up to the last position means everything: no order is missing or behind.
    assert projected_orders(settings) == expected
    live = snapshot(settings)
    asyncio.run(rebuild(settings, ORDER_HISTORY))
    assert snapshot(settings) == live
