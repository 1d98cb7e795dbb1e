"""Rebuild the order history from the orders event store (never from Kafka).

One transaction: empty both tables and refill them from the orders log up to its head.
Readers keep seeing the old rows until it commits; the live projector waits for it
(table locks, see ``OrderHistoryTables``) and then applies what follows, version-guarded,
so nothing is lost or applied twice.
"""

from __future__ import annotations

import logging

import psycopg

from infra import bootstrap
from infra.settings import Settings
from projections.sinks.postgres_orders import OrderHistoryTables
from streams.relay import envelopes

log = logging.getLogger(__name__)
_BATCH = 1000


async def rebuild_order_history(settings: Settings) -> int:
    """Refill this namespace's order history; return the position it was rebuilt up to."""
    tables = OrderHistoryTables(settings.schema_for("read"))
    app = bootstrap.application(settings, "orders")
    position = total = 0
    try:
        async with await psycopg.AsyncConnection.connect(
            settings.database_url, autocommit=True
        ) as conn:
            await tables.create(conn)
            async with conn.transaction():
                await tables.clear(conn)
                while notifications := app.recorder.select_notifications(
                    start=position, limit=_BATCH, inclusive_of_start=False
                ):
                    await tables.apply(conn, envelopes(app, notifications))
                    position = notifications[-1].id
                    total += len(notifications)
    finally:
        app.close()
    log.info("order history: rebuilt from %d events up to position %d", total, position)
    return position
