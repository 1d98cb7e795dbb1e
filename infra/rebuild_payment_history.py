"""Rebuild the payment history from the payments and orders event stores (never Kafka).

One transaction: empty the tables and refill them from both logs up to their heads.
Readers see the old rows until it commits; the live projector waits for it (table locks)
and then applies what follows, version-guarded.
"""

from __future__ import annotations

import logging

import psycopg

from infra import bootstrap
from infra.settings import Settings
from projections.payment_history import CONTEXTS
from projections.sinks.postgres_payments import PaymentHistoryTables
from streams.relay import envelopes

log = logging.getLogger(__name__)
_BATCH = 1000


async def rebuild_payment_history(settings: Settings) -> dict[str, int]:
    """Refill this namespace's payment history; the position of each log it reached."""
    tables = PaymentHistoryTables(settings.schema_for("read"))
    positions = dict.fromkeys(CONTEXTS, 0)
    async with await psycopg.AsyncConnection.connect(
        settings.database_url, autocommit=True
    ) as conn:
        await tables.create(conn)
        async with conn.transaction():
            await tables.clear(conn)
            for context in CONTEXTS:
                app = bootstrap.application(settings, context)
                try:
                    while notifications := app.recorder.select_notifications(
                        start=positions[context], limit=_BATCH, inclusive_of_start=False
                    ):
                        await tables.apply(conn, envelopes(app, notifications))
                        positions[context] = notifications[-1].id
                finally:
                    app.close()
    log.info("payment history: rebuilt up to %s", positions)
    return positions
