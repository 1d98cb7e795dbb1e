"""The analytics schema: projected from five contexts, idempotent, identical after live
processing and after a rebuild by replay, a refund shared by an order's lines (the reports
of the read API: test_analytics_api.py)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from commands.orders.application import OrdersApplication
from contract.watermark import complete_up_to
from domain.money import Money
from domain.orders import OrderLine
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.read_models import rebuild
from infra.settings import Settings
from projections.analytics import KEYS
from projections.sinks.postgres_analytics import ANALYTICS
from tests.support.analytics import ALICE, a_day_of_trading, logs, project
from tests.support.catalog import a_product, add_products
from tests.support.orders import deliver
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration

Snapshot = dict[str, list[tuple[Any, ...]]]


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


def test_a_refund_of_a_two_line_order_is_shared_by_its_lines_and_adds_up(
    settings: Settings,
) -> None:
    add_products(settings, [a_product("AN-A", "A", "10.00"), a_product("AN-B", "B", "20.00")])
    orders = bootstrap.application(settings, "orders")
    assert isinstance(orders, OrdersApplication)
    try:
        lines = [OrderLine("AN-A", 1, Money(1000, "EUR")), OrderLine("AN-B", 1, Money(2000, "EUR"))]
        order = orders.place_order(ALICE, uuid4(), lines, None).id
        deliver(orders, order)
        orders.refund(order, Money(1000, "EUR"), key="part-1")
        orders.refund(order, Money(1, "EUR"), key="part-2")
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
