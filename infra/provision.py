"""`shop provision`: create what the platform needs and nothing creates by itself."""

from __future__ import annotations

import psycopg
from psycopg import sql

from infra import bootstrap
from infra.audit.chain import install as install_chain
from infra.read_models import READ_MODELS
from infra.settings import Settings


def provision(settings: Settings) -> None:
    """Schemas, tables, topics with our partition count, and what each read model needs
    before its first event (the products index behind its alias, among others). Idempotent.

    Only this creates event tables: the library's DDL (CREATE OR REPLACE FUNCTION…) run by
    several processes starting at once fails with "tuple concurrently updated"."""
    contexts = bootstrap.CONTEXTS
    # One connection for all of it: a new backend per table cost more than the DDL.
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for schema in (*contexts, "keys", "streams", "projections", "security", "saga"):
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(settings.schema_for(schema))
                )
            )
        keys = bootstrap.personal_data_keys(settings)
        try:
            keys.create_table()
        finally:
            keys.close()
        for context in contexts:
            app = bootstrap.application(settings, context, create_tables=True)
            try:
                install_chain(conn, bootstrap.events_table(app))  # tamper evidence, ADR 0015
            finally:
                app.close()
            bootstrap.idempotency_store(settings, context).create_table(conn)
        for store in (
            bootstrap.relay_checkpoints(settings),
            bootstrap.projection_checkpoints(settings),
            bootstrap.refresh_tokens(settings),
            bootstrap.not_before_records(settings),
            bootstrap.audit_log(settings),
        ):
            store.create_table(conn)
    bootstrap.saga_deadlines(settings).create_table()
    # A recreated or emptied topic is noticed by the relay, which publishes the log again.
    bootstrap.create_topics(
        settings, [settings.topic(c) for c in contexts] + [settings.dead_letter_topic]
    )
    for model in READ_MODELS:
        if model.provision is not None:
            model.provision(settings)
