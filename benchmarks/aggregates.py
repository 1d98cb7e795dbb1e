"""Scenario: loading an aggregate with a long history. A stock item and a product with
10,000 events each (both applications take snapshots) loaded through the application,
against a raw one-row read from the same events table."""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

import psycopg
from psycopg import sql

from benchmarks import dataset
from benchmarks.harness import Bench, Row, ms, percentile, ratio, say
from commands.base import ShopApplication
from commands.catalog.application import CatalogApplication
from commands.inventory.application import InventoryApplication
from infra import bootstrap
from infra.settings import Settings


def _latencies(call: Callable[[], object], seconds: float, at_least: int = 5) -> list[float]:
    latencies: list[float] = []
    until = time.perf_counter() + seconds
    while time.perf_counter() < until or len(latencies) < at_least:
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return latencies


def _raw_reader(
    settings: Settings, app: ShopApplication, aggregate_id: UUID
) -> tuple[psycopg.Connection[tuple[object, ...]], Callable[[], object]]:
    """A connection and a read of the newest stored row of the aggregate."""
    statement = sql.SQL(
        "SELECT state FROM {} WHERE originator_id = %s ORDER BY originator_version DESC LIMIT 1"
    ).format(bootstrap.events_table(app).name)
    conn = psycopg.connect(settings.database_url, autocommit=True)
    return conn, lambda: conn.execute(statement, (aggregate_id,)).fetchone()


def _row(what: str, events: int, shop: list[float], raw: list[float]) -> Row:
    p50, raw_p50 = percentile(shop, 50), percentile(raw, 50)
    return Row(
        f"load {what} ({events:,} events)",
        f"p50 {ms(p50)}, p99 {ms(percentile(shop, 99))}",
        f"p50 {ms(raw_p50)}",
        ratio(p50, raw_p50),
        "ratio of latencies (lower is better); yardstick: SELECT of the newest stored row",
    )


def run(bench: Bench) -> list[Row]:
    events = bench.options.aggregate_events
    seconds = min(bench.options.duration, 5.0)
    settings = bench.namespace("ba")
    say(f"aggregate: making a stock item and a product with {events} events each")
    item_id = dataset.stock_history(settings, "BENCH-AGG", events)
    product_id = dataset.price_history(settings, "BENCH-AGG", events)

    inventory = bootstrap.application(settings, "inventory")
    assert isinstance(inventory, InventoryApplication)
    catalog = bootstrap.application(settings, "catalog")
    assert isinstance(catalog, CatalogApplication)
    rows = []
    for what, app, load, aggregate_id in (
        ("stock item", inventory, lambda: inventory.get_stock_item_by_id(item_id), item_id),
        ("product", catalog, lambda: catalog.get_product(product_id), product_id),
    ):
        conn, read = _raw_reader(settings, app, aggregate_id)
        try:
            say(f"aggregate: loading the {what}")
            shop = _latencies(load, seconds)
            raw = _latencies(read, seconds)
        finally:
            conn.close()
            app.close()
        rows.append(_row(what, events, shop, raw))
    return rows
