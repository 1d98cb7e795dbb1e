"""The analytics schema: projected from five contexts, idempotent, identical after live
processing and after a rebuild by replay, and served as JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from commands.carts.models import AddItem, CreateCart
from commands.inventory.models import AdjustStock, OrderSkus, ReservationLine, ReserveStock
from commands.models import PositiveAmount
from commands.orders.models import PlaceOrder
from commands.payments.application import PaymentDeclined
from commands.payments.models import Authorize, Capture, Refund
from contract.envelope import Envelope
from contract.watermark import complete_up_to
from domain.identity import Role
from domain.money import Money
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.http import install_problem_handlers
from infra.read_models import rebuild
from infra.settings import Settings
from projections.analytics import CONTEXTS, KEYS
from projections.sinks.postgres_analytics import ANALYTICS, AnalyticsProjector
from read_api.analytics import router
from streams.relay import envelopes
from tests.support.auth import bearer, with_access
from tests.support.catalog import a_product, add_products
from tests.support.orders import deliver, place
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration

ALICE = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9a01")
BOB = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9b02")
Snapshot = dict[str, list[tuple[Any, ...]]]


def eur(amount: str) -> PositiveAmount:
    return PositiveAmount.model_validate({"amount": amount, "currency": "EUR"})


def a_day_of_trading(settings: Settings) -> dict[str, Any]:
    """Two products in two categories, stock moving, two carts, three orders (one delivered
    and partly refunded, one cancelled, one placed), a captured and a declined payment."""
    headphones, lamp = add_products(
        settings,
        [
            a_product("AN-HP", "Headphones", "19.99").model_copy(update={"category": "audio"}),
            a_product("AN-LAMP", "Lamp", "5.00").model_copy(update={"category": "home"}),
        ],
    )
    apps = {c: bootstrap.application(settings, c) for c in CONTEXTS}
    catalog, inventory, carts, orders, payments = (apps[c] for c in CONTEXTS)
    try:
        catalog.change_price(headphones, Money(2199, "EUR"))  # type: ignore[attr-defined]
        inventory.receive("AN-HP", 10, "r1")  # type: ignore[attr-defined]
        inventory.receive("AN-LAMP", 5, "r2")  # type: ignore[attr-defined]
        inventory.adjust(  # type: ignore[attr-defined]
            "AN-LAMP", AdjustStock(change=-1, reason="broken"), "a1"
        )

        cart = carts.create_cart(CreateCart(customer_id=ALICE), None).id  # type: ignore[attr-defined]
        carts.add_item(cart, AddItem(sku="AN-HP", quantity=2))  # type: ignore[attr-defined]
        carts.check_out(cart)  # type: ignore[attr-defined]
        abandoned = carts.create_cart(CreateCart(customer_id=BOB), None).id  # type: ignore[attr-defined]
        carts.add_item(abandoned, AddItem(sku="AN-LAMP", quantity=1))  # type: ignore[attr-defined]

        delivered = place(orders, ALICE, "19.99", "AN-HP", 2, cart).id  # type: ignore[arg-type]
        now = datetime.now(UTC)
        inventory.reserve(  # type: ignore[attr-defined]
            ReserveStock(order_id=delivered, lines=[ReservationLine(sku="AN-HP", quantity=2)]), now
        )
        payment = payments.authorize(  # type: ignore[attr-defined]
            Authorize(
                order_id=delivered,
                amount=eur("39.98"),
                payment_token="tok_approve",
                card_brand="visa",
                last_four="4242",
            ),
            "p1",
        ).id
        payments.capture(payment, Capture(), "c1")  # type: ignore[attr-defined]
        inventory.commit(delivered, OrderSkus(skus=["AN-HP"]))  # type: ignore[attr-defined]
        deliver(orders, delivered)  # type: ignore[arg-type]
        orders.refund(delivered, Money(500, "EUR"), key="r1")  # type: ignore[attr-defined]
        payments.refund(payment, Refund(amount=eur("5.00")), "rf1")  # type: ignore[attr-defined]

        cancelled = place(orders, BOB, "5.00", "AN-LAMP", 1).id  # type: ignore[arg-type]
        inventory.reserve(  # type: ignore[attr-defined]
            ReserveStock(order_id=cancelled, lines=[ReservationLine(sku="AN-LAMP", quantity=1)]),
            now,
        )
        with pytest.raises(PaymentDeclined):
            payments.authorize(  # type: ignore[attr-defined]
                Authorize(
                    order_id=cancelled,
                    amount=eur("5.00"),
                    payment_token="tok_decline_insufficient_funds",
                    card_brand="visa",
                    last_four="0002",
                ),
                "p2",
            )
        inventory.release(cancelled, OrderSkus(skus=["AN-LAMP"]))  # type: ignore[attr-defined]
        orders.mark_stock_reserved(cancelled)  # type: ignore[attr-defined]
        orders.cancel(cancelled, "payment declined")  # type: ignore[attr-defined]

        placed = place(orders, BOB, "5.00", "AN-LAMP", 3).id  # type: ignore[arg-type]
    finally:
        for app in apps.values():
            app.close()
    return {
        "headphones": headphones,
        "lamp": lamp,
        "delivered": delivered,
        "cancelled": cancelled,
        "placed": placed,
        "payment": payment,
    }


def logs(settings: Settings) -> dict[str, list[Envelope]]:
    result = {}
    for context in CONTEXTS:
        app = bootstrap.application(settings, context)
        try:
            result[context] = envelopes(app, app.recorder.select_notifications(1, 100_000))
        finally:
            app.close()
    return result


def project(settings: Settings, *batches: list[Envelope]) -> None:
    async def run() -> None:
        projector = AnalyticsProjector(settings.database_url, settings.schema_for("analytics"))
        await projector.start()
        for batch in batches:
            await projector.apply(batch)

    asyncio.run(run())


def snapshot(settings: Settings) -> Snapshot:
    """Every analytics table, rows in key order."""
    schema = settings.schema_for("analytics")
    with psycopg.connect(settings.database_url) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                    sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, key))
                )
            ).fetchall()
            for table, key in KEYS.items()
        }


def view(settings: Settings, name: str, order: str = "1") -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            sql.SQL("SELECT * FROM {} ORDER BY {}").format(
                sql.Identifier(settings.schema_for("analytics"), name), sql.SQL(order)
            )
        ).fetchall()


def test_the_tables_and_views_hold_what_happened(settings: Settings) -> None:
    ids = a_day_of_trading(settings)
    project(settings, *logs(settings).values())

    tables = snapshot(settings)
    assert {t: len(rows) for t, rows in tables.items()} == {
        "products": 2,
        "stock_items": 2,
        "inventory_movements": 7,
        "carts": 2,
        "orders": 3,
        "order_lines": 3,
        "order_refunds": 1,
        "payments": 2,
        "payment_movements": 4,
    }
    orders = {row["order_id"]: row for row in view(settings, "order_line_details")}
    delivered = orders[ids["delivered"]]
    assert (delivered["category"], delivered["status"]) == ("audio", "delivered")
    assert (delivered["quantity"], delivered["line_total_minor"]) == (2, 3998)
    assert delivered["paid_at"] is not None
    assert orders[ids["cancelled"]]["status"] == "cancelled"

    sales = {(r["sku"], r["category"]): r for r in view(settings, "daily_sales")}
    assert sales[("AN-HP", "audio")]["revenue_minor"] == 3998
    # The partial refund of the delivered order counts on its day (issue 15).
    headphones = sales[("AN-HP", "audio")]
    assert (headphones["refunds"], headphones["refunded_minor"]) == (1, 500)
    assert headphones["net_revenue_minor"] == 3998 - 500
    assert sales[("AN-LAMP", "home")]["refunded_minor"] == 0
    (audio,) = [r for r in view(settings, "daily_category_sales") if r["category"] == "audio"]
    assert (audio["refunded_minor"], audio["net_revenue_minor"]) == (500, 3498)
    assert sales[("AN-LAMP", "home")]["units"] == 3  # the cancelled order does not count
    (funnel,) = view(settings, "funnel_daily")
    assert (
        funnel["carts_created"],
        funnel["carts_checked_out"],
        funnel["orders_placed"],
        funnel["orders_paid"],
        funnel["orders_delivered"],
    ) == (2, 1, 3, 1, 1)
    (money,) = view(settings, "payments_daily")
    assert (money["authorized_minor"], money["captured_minor"], money["refunded_minor"]) == (
        3998,
        3998,
        500,
    )
    assert money["declined"] == 1
    levels = {r["sku"]: r for r in view(settings, "stock_levels")}
    assert (levels["AN-HP"]["on_hand"], levels["AN-HP"]["reserved"]) == (8, 0)
    assert (levels["AN-LAMP"]["on_hand"], levels["AN-LAMP"]["available"]) == (4, 4)


def test_redelivered_events_change_nothing(settings: Settings) -> None:
    a_day_of_trading(settings)
    by_context = logs(settings)
    project(settings, *by_context.values())
    once = snapshot(settings)

    orders = by_context["orders"]
    project(settings, orders, orders[:5], orders[3:], by_context["payments"], orders[-1:])

    assert snapshot(settings) == once


def test_the_order_contexts_arrive_in_does_not_matter(settings: Settings) -> None:
    a_day_of_trading(settings)
    by_context = logs(settings)
    project(settings, *by_context.values())
    forwards = snapshot(settings)

    asyncio.run(rebuild(settings, ANALYTICS))  # empties and refills
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for table in KEYS:
            conn.execute(
                sql.SQL("DELETE FROM {}").format(
                    sql.Identifier(settings.schema_for("analytics"), table)
                )
            )
    project(settings, *reversed(by_context.values()))

    assert snapshot(settings) == forwards


def test_after_live_processing_every_table_equals_the_table_rebuilt_by_replay(
    settings: Settings, processes: Supervisor
) -> None:
    ids = a_day_of_trading(settings)
    heads = {c: max(e.position for e in log) for c, log in logs(settings).items()}
    start(processes, settings, "relay")
    start(processes, settings, "worker")
    checkpoints = bootstrap.projection_checkpoints(settings)

    def caught_up() -> bool:
        return all(
            complete_up_to(
                asyncio.run(checkpoints.positions(ANALYTICS, context)), settings.kafka_partitions
            )
            >= head
            for context, head in heads.items()
        )

    eventually(caught_up, timeout=120, what="the worker applies every context's log")
    live = snapshot(settings)
    assert ids["placed"] in {row[0] for row in live["orders"]}

    assert asyncio.run(rebuild(settings, ANALYTICS)).positions == heads
    assert snapshot(settings) == live


# --- the read API -------------------------------------------------------------------------


@pytest.fixture
def read_api(settings: Settings) -> Iterator[TestClient]:
    pool = AsyncConnectionPool(settings.database_url, min_size=1, max_size=4, open=False)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    api = with_access(FastAPI(lifespan=lifespan), settings)
    api.include_router(router(pool.connection, settings.schema_for("analytics")))
    install_problem_handlers(api)
    with TestClient(api, headers=bearer(settings, None, Role.ANALYST)) as client:
        yield client


def test_analytics_is_for_analysts_and_admins(settings: Settings, read_api: TestClient) -> None:
    customer = read_api.get("/analytics", headers=bearer(settings, None, Role.CUSTOMER))
    anonymous = read_api.get("/analytics", headers={"Authorization": ""})
    admin = read_api.get("/analytics", headers=bearer(settings, None, Role.ADMIN))

    assert (customer.status_code, anonymous.status_code, admin.status_code) == (403, 401, 200)


def test_every_report_answers_the_same_figures_as_json_and_csv(
    settings: Settings, read_api: TestClient
) -> None:
    a_day_of_trading(settings)
    project(settings, *logs(settings).values())
    names = [r["name"] for r in read_api.get("/analytics").json()["reports"]]
    assert len(names) == 7

    for name in names:
        as_json = read_api.get(f"/analytics/{name}")
        as_csv = read_api.get(f"/analytics/{name}", headers={"accept": "text/csv"})
        by_param = read_api.get(f"/analytics/{name}", params={"format": "csv"})
        assert as_json.status_code == as_csv.status_code == 200
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert by_param.text == as_csv.text
        body = as_json.json()
        assert body["rows"], name
        parsed = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert list(parsed[0]) == body["columns"]
        assert parsed == [
            {c: "" if row[c] is None else str(row[c]) for c in body["columns"]}
            for row in body["rows"]
        ]

    sales = read_api.get("/analytics/daily-sales", params={"category": "audio"}).json()
    assert [(r["sku"], r["units"], r["revenue_minor"]) for r in sales["rows"]] == [
        ("AN-HP", 2, 3998)
    ]
    funnel = read_api.get("/analytics/funnel").json()["rows"][0]
    assert funnel["orders_placed"] == 3


def test_a_day_range_and_a_limit_narrow_a_report(settings: Settings, read_api: TestClient) -> None:
    a_day_of_trading(settings)
    project(settings, *logs(settings).values())
    today = datetime.now(UTC).date().isoformat()

    assert len(read_api.get("/analytics/order-lines", params={"from": today}).json()["rows"]) == 3
    assert read_api.get("/analytics/order-lines", params={"to": "2000-01-01"}).json()["rows"] == []
    page = read_api.get("/analytics/inventory-movements", params={"limit": 2})
    assert len(page.json()["rows"]) == 2
    assert page.json()["truncated"] is True
    assert page.headers["Shop-Truncated"] == "true"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/analytics/daily-sales", {"from": "yesterday"}, "query.from"),
        ("/analytics/daily-sales", {"from": "2026-02-02", "to": "2026-02-01"}, "query.to"),
        ("/analytics/daily-sales", {"status": "paid"}, "query.status"),
        ("/analytics/stock-levels", {"from": "2026-02-02"}, "query.from"),
        ("/analytics/funnel", {"limit": 0}, "query.limit"),
        ("/analytics/funnel", {"limit": 10_001}, "query.limit"),
        ("/analytics/funnel", {"format": "xml"}, "query.format"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    read_api: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    response = read_api.get(path, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_an_unknown_report_is_a_404(read_api: TestClient) -> None:
    assert read_api.get(f"/analytics/{uuid4()}").status_code == 404


def test_a_refund_of_a_two_line_order_is_shared_by_its_lines_and_adds_up(
    settings: Settings,
) -> None:
    add_products(settings, [a_product("AN-A", "A", "10.00"), a_product("AN-B", "B", "20.00")])
    orders = bootstrap.application(settings, "orders")
    try:
        command = {
            "customer_id": str(ALICE),
            "cart_id": str(uuid4()),
            "lines": [
                {
                    "sku": "AN-A",
                    "quantity": 1,
                    "unit_price": {"amount": "10.00", "currency": "EUR"},
                },
                {
                    "sku": "AN-B",
                    "quantity": 1,
                    "unit_price": {"amount": "20.00", "currency": "EUR"},
                },
            ],
        }
        order = orders.place_order(PlaceOrder.model_validate(command), None).id  # type: ignore[attr-defined]
        deliver(orders, order)  # type: ignore[arg-type]
        orders.refund(order, Money(1000, "EUR"), key="part-1")  # type: ignore[attr-defined]
        orders.refund(order, Money(1, "EUR"), key="part-2")  # type: ignore[attr-defined]
    finally:
        orders.close()
    project(settings, *logs(settings).values())

    sales = {r["sku"]: r for r in view(settings, "daily_sales")}
    # 10.00 of 30.00: a third to A, two thirds to B; the odd cent goes to the last line.
    assert (sales["AN-A"]["refunded_minor"], sales["AN-B"]["refunded_minor"]) == (333, 667 + 1)
    assert sum(r["refunded_minor"] for r in sales.values()) == 1001
    assert sales["AN-B"]["refunds"] == 2
    assert sum(r["net_revenue_minor"] for r in sales.values()) == 3000 - 1001
    assert (sales["AN-A"]["units"], sales["AN-A"]["orders"]) == (1, 1)  # units stay sold
