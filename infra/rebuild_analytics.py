"""Rebuild the analytics schema from the event stores of the contexts it follows (never
from Kafka).

One transaction: empty every table and refill them from each context's log up to its head.
Analysts keep seeing the old rows until it commits; the live projector waits for it (table
locks, see ``AnalyticsTables``) and then applies what follows, version-guarded.
"""

from __future__ import annotations

import logging

import psycopg

from infra import bootstrap
from infra.settings import Settings
from projections.analytics import CONTEXTS
from projections.sinks.postgres_analytics import AnalyticsTables
from streams.relay import envelopes

log = logging.getLogger(__name__)
_BATCH = 1000


async def rebuild_analytics(settings: Settings) -> dict[str, int]:
    """Refill this namespace's analytics; return the position rebuilt up to per context."""
    tables = AnalyticsTables(settings.schema_for("analytics"))
    apps = [bootstrap.application(settings, context) for context in CONTEXTS]
    positions = dict.fromkeys(CONTEXTS, 0)
    try:
        async with await psycopg.AsyncConnection.connect(
            settings.database_url, autocommit=True
        ) as conn:
            await tables.create(conn)
            async with conn.transaction():
                await tables.clear(conn)
                for app in apps:
                    position = 0
                    while notifications := app.recorder.select_notifications(
                        start=position, limit=_BATCH, inclusive_of_start=False
                    ):
                        await tables.apply(conn, envelopes(app, notifications))
                        position = notifications[-1].id
                    positions[app.context] = position
    finally:
        for app in apps:
            app.close()
    log.info("analytics: rebuilt up to %s", positions)
    return positions
