"""The yardstick of the rebuild scenario, run as its own process with the settings of the
environment: every row of the orders events table through a server-side cursor, written
with ``executemany`` into a plain table, in one transaction. No decoding, no projection:
what reading and writing the same rows costs at least."""

from __future__ import annotations

import psycopg
from psycopg import sql

from infra import bootstrap
from infra.settings import Settings

_BATCH = 1000


def main() -> None:
    settings = Settings()
    app = bootstrap.application(settings, "orders")
    events = bootstrap.events_table(app).name
    app.close()
    target = sql.Identifier(settings.schema_for("bench_rebuild"), "orders")
    with psycopg.connect(settings.database_url) as conn:
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(settings.schema_for("bench_rebuild"))
            )
        )
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} "
                "(id uuid PRIMARY KEY, version int, position bigint, state bytea)"
            ).format(target)
        )
        conn.execute(sql.SQL("TRUNCATE {}").format(target))
        insert = sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(target)
        select = sql.SQL(
            "SELECT originator_id, originator_version, notification_id, state FROM {}"
            " ORDER BY notification_id"
        ).format(events)
        with conn.cursor(name="events") as rows, conn.cursor() as writer:
            rows.execute(select)
            while batch := rows.fetchmany(_BATCH):
                writer.executemany(insert, batch)
        conn.commit()


if __name__ == "__main__":
    main()
