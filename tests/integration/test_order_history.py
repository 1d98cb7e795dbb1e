"""Order history in Postgres: the sink, the read endpoints, the rebuild and the worker,
against the real servers of the embedded stack."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from commands.base import CommandResult
from commands.orders.application import OrdersApplication
from commands.orders.models import PlaceOrder
from contract.envelope import Envelope
from contract.watermark import complete_up_to
from domain.money import Money
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.http import install_problem_handlers
from infra.provision import provision
from infra.read_models import rebuild
from infra.settings import Settings
from projections.sinks.postgres_orders import (
    ORDER_HISTORY,
    OrderHistoryProjector,
    OrderHistoryTables,
)
from read_api.orders import router
from streams.relay import envelopes
from tests.support.auth import as_admin, with_access
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration

ALICE = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9a01")
BOB = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9b02")
Snapshot = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]


def place(orders: OrdersApplication, customer: UUID, amount: str = "19.99") -> CommandResult:
    command = {
        "customer_id": str(customer),
        "cart_id": str(uuid4()),
        "lines": [
            {"sku": "HP-1000", "quantity": 2, "unit_price": {"amount": amount, "currency": "EUR"}}
        ],
    }
    return orders.place_order(PlaceOrder.model_validate_json(json.dumps(command)), None)


def deliver(orders: OrdersApplication, order_id: UUID) -> CommandResult:
    orders.mark_stock_reserved(order_id)
    orders.mark_payment_authorized(order_id, uuid4())
    orders.confirm(order_id)
    orders.ship(order_id)
    return orders.deliver(order_id)


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
    async def run() -> None:
        projector = OrderHistoryProjector(settings.database_url, settings.schema_for("read"))
        await projector.start()
        for batch in batches:
            await projector.apply(batch)
        await projector.close()

    asyncio.run(run())


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


# --- the read endpoints -----------------------------------------------------------


@pytest.fixture
def read_api(settings: Settings) -> Iterator[TestClient]:
    checkpoints = bootstrap.projection_checkpoints(settings)

    async def applied() -> int:
        positions = await checkpoints.positions(ORDER_HISTORY, "orders")
        return complete_up_to(positions, settings.kafka_partitions)

    pool = AsyncConnectionPool(settings.database_url, min_size=1, max_size=4, open=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    api = FastAPI(lifespan=lifespan)
    api.include_router(router(pool.connection, settings.schema_for("read"), applied, 0.3))
    install_problem_handlers(api)
    with TestClient(with_access(api, settings), headers=as_admin(settings)) as client:
        yield client


def applied_up_to(settings: Settings, position: int) -> None:
    checkpoints = bootstrap.projection_checkpoints(settings)
    every_partition = dict.fromkeys(range(settings.kafka_partitions), position)
    asyncio.run(checkpoints.advance(ORDER_HISTORY, "orders", every_partition))


def test_a_customer_sees_their_orders_newest_first_page_by_page(
    settings: Settings, orders: OrdersApplication, read_api: TestClient
) -> None:
    ids = a_few_orders(orders)
    project(settings, the_log(orders))

    first = read_api.get(f"/customers/{ALICE}/orders", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [o["id"] for o in page["items"]] == [str(ids["placed"]), str(ids["cancelled"])]
    assert page["next_cursor"]
    second = read_api.get(
        f"/customers/{ALICE}/orders", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [o["id"] for o in second["items"]] == [str(ids["delivered"])]
    assert second["next_cursor"] is None
    delivered = second["items"][0]
    assert delivered["status"] == "delivered"
    assert delivered["total"] == {"amount": "39.98", "minor": 3998, "currency": "EUR"}
    assert delivered["refunded"] == {"amount": "5.00", "minor": 500, "currency": "EUR"}
    assert delivered["version"] == 7
    assert delivered["customer_id"] == str(ALICE)

    bobs = read_api.get(f"/customers/{BOB}/orders").json()
    assert [o["id"] for o in bobs["items"]] == [str(ids["bobs"])]
    nobody = read_api.get(f"/customers/{uuid4()}/orders").json()
    assert (nobody["items"], nobody["next_cursor"]) == ([], None)


def test_an_order_shows_its_timeline_in_version_order(
    settings: Settings, orders: OrdersApplication, read_api: TestClient
) -> None:
    ids = a_few_orders(orders)
    project(settings, the_log(orders))

    response = read_api.get(f"/orders/{ids['delivered']}")
    assert response.status_code == 200
    order = response.json()
    timeline = order["timeline"]
    assert [(e["version"], e["status"]) for e in timeline] == list(
        enumerate(
            [
                "placed",
                "stock_reserved",
                "payment_authorized",
                "confirmed",
                "shipped",
                "delivered",
                "refunded",
            ],
            start=1,
        )
    )
    assert timeline[0]["amount"] == {"amount": "39.98", "minor": 3998, "currency": "EUR"}
    assert timeline[0]["detail"]["lines"] == [
        {"sku": "HP-1000", "quantity": 2, "unit_price_minor": 1999}
    ]
    assert timeline[-1]["amount"] == {"amount": "5.00", "minor": 500, "currency": "EUR"}
    assert timeline[-1]["detail"]["refunded_minor"] == 500
    assert timeline[-1]["occurred_at"] == order["updated_at"]
    assert [e["occurred_at"] for e in timeline] == sorted(e["occurred_at"] for e in timeline)

    cancelled = read_api.get(f"/orders/{ids['cancelled']}").json()
    assert cancelled["timeline"][-1]["detail"] == {"reason": "found it cheaper"}


def test_an_unknown_order_is_a_404_problem(settings: Settings, read_api: TestClient) -> None:
    # Before the projector ever ran there are no tables yet: still an answer, not a 500.
    assert read_api.get(f"/customers/{ALICE}/orders").json()["items"] == []
    response = read_api.get(f"/orders/{uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "is not in the order history" in response.json()["detail"]

    project(settings, [])
    assert read_api.get(f"/orders/{uuid4()}").status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (f"/customers/{ALICE}/orders", {"limit": 0}, "query.limit"),
        (f"/customers/{ALICE}/orders", {"limit": 101}, "query.limit"),
        (f"/customers/{ALICE}/orders", {"limit": "many"}, "query.limit"),
        (f"/customers/{ALICE}/orders", {"cursor": "not-a-cursor"}, "query.cursor"),
        (f"/customers/{ALICE}/orders", {"cursor": "WyJ4IiwgInkiXQ"}, "query.cursor"),
        (f"/customers/{ALICE}/orders", {"after": -1}, "query.after"),
        ("/customers/alice/orders", {}, "path.customer_id"),
        ("/orders/42", {}, "path.order_id"),
        (f"/orders/{BOB}", {"after": "soon"}, "query.after"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    read_api: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    response = read_api.get(path, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_reading_after_a_position_waits_for_it_or_says_it_is_stale(
    settings: Settings, orders: OrdersApplication, read_api: TestClient
) -> None:
    result = place(orders, ALICE)
    project(settings, the_log(orders))

    stale = read_api.get(f"/orders/{result.id}", params={"after": result.position})
    assert stale.headers["Shop-Stale"] == "true"
    assert stale.json()["consistency"] == {"after": result.position, "applied": 0, "stale": True}

    applied_up_to(settings, result.position)
    fresh = read_api.get(f"/customers/{ALICE}/orders", params={"after": result.position})
    assert fresh.headers["Shop-Stale"] == "false"
    assert fresh.headers["Shop-Applied-Position"] == str(result.position)
    assert fresh.json()["consistency"]["stale"] is False
    assert read_api.get(f"/orders/{uuid4()}", params={"after": 10**6}).headers["Shop-Stale"] == (
        "true"
    )


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
