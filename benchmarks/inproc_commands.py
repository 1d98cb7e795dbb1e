"""Scenario: in-process commands. ``InventoryApplication.receive`` from N threads (as the
command API's thread pool calls it) against a raw psycopg loop, one INSERT + COMMIT per row,
N connections."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable

import psycopg
from psycopg import sql

from benchmarks.harness import Bench, Row, percentile, ratio, say
from commands.inventory.application import InventoryApplication
from infra import bootstrap


def _threads(n: int, seconds: float, warmup: float, step: Callable[[int], object]) -> list[float]:
    """Run ``step(thread index)`` in a loop on n threads; the latencies after the warm-up."""
    latencies: list[list[float]] = [[] for _ in range(n)]
    start = time.perf_counter()
    measure_from, until = start + warmup, start + warmup + seconds

    def loop(index: int) -> None:
        while (began := time.perf_counter()) < until:
            step(index)
            if began >= measure_from:
                latencies[index].append(time.perf_counter() - began)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [latency for per_thread in latencies for latency in per_thread]


def _figure(latencies: list[float], seconds: float, unit: str) -> str:
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    return f"{len(latencies) / seconds:,.0f} {unit}, p50 {p50:.1f} ms, p99 {p99:.1f} ms"


def run(bench: Bench) -> list[Row]:
    options = bench.options
    n, seconds = options.concurrency, options.duration
    settings = bench.namespace("bc")
    app = bootstrap.application(settings, "inventory")
    assert isinstance(app, InventoryApplication)
    skus = [f"BENCH-{i:05d}" for i in range(50 if options.smoke else 2000)]
    say(f"commands: InventoryApplication.receive from {n} threads")
    try:
        shop = _threads(
            n,
            seconds,
            options.warmup,
            lambda _: app.receive(random.choice(skus), 1, f"k-{uuid.uuid4().hex}"),  # noqa: S311
        )
    finally:
        app.close()

    schema = settings.schema_for("bench")
    table = sql.Identifier(schema, "rows")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE {} (id uuid PRIMARY KEY, sku text, quantity int)").format(table)
        )
    connections = [psycopg.connect(settings.database_url) for _ in range(n)]
    insert = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(table)

    def one_row(index: int) -> None:
        conn = connections[index]
        conn.execute(insert, (uuid.uuid4(), random.choice(skus), 1))  # noqa: S311
        conn.commit()

    say(f"commands: raw INSERT + COMMIT from {n} connections")
    try:
        raw = _threads(n, seconds, options.warmup, one_row)
    finally:
        for conn in connections:
            conn.close()
    return [
        Row(
            f"receive() from {n} threads",
            _figure(shop, seconds, "cmd/s"),
            _figure(raw, seconds, "rows/s"),
            ratio(len(shop), len(raw)),
            "yardstick: one INSERT + COMMIT per row",
        )
    ]
