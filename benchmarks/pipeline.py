"""Scenarios: the pipeline behind the command side.

- relay: ``Relay.catch_up`` publishing a context's log (decode, envelope, send, acks,
  watermarks, checkpoint) against a raw kafka-python producer sending the same envelopes.
- projectors: every projector of ``read_models.projectors`` applying the log in batches, as
  the worker does, against raw bulk writes of the same documents to the same server
  (Elasticsearch ``_bulk``, a Redis pipeline, a Postgres ``executemany``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import psycopg
from psycopg import sql
from redis.asyncio import Redis

from benchmarks import dataset
from benchmarks.harness import Bench, Row, ratio, say
from commands.base import ShopApplication
from contract.envelope import Envelope
from infra import bootstrap, read_models
from infra.settings import Settings
from projections.projector import ProjectorSpec
from streams.relay import envelopes

_BATCH = 500
# The notifier sends e-mail for each event; its cost is the mail server's, not a write.
_SKIPPED = {"notifications"}


def _size(bench: Bench) -> int:
    return 10 if bench.options.smoke else 200


def _log(settings: Settings, context: str) -> list[Envelope]:
    app: ShopApplication = bootstrap.application(settings, context)
    try:
        result: list[Envelope] = []
        position = 0
        while notifications := app.recorder.select_notifications(
            start=position, limit=1000, inclusive_of_start=False
        ):
            result.extend(envelopes(app, notifications))
            position = notifications[-1].id
        return result
    finally:
        app.close()


def _pipeline_data(bench: Bench) -> Settings:
    if (settings := bench.namespaces.get("pipeline")) is None:
        settings = bench.namespace("bq")
        say("pipeline: making events")
        dataset.commerce(settings, _size(bench))
        dataset.stock_history(settings, "BENCH-RELAY", 500 if bench.options.smoke else 10_000)
        bench.namespaces["pipeline"] = settings
    return settings


# --- relay ------------------------------------------------------------------------------


def run_relay(bench: Bench) -> list[Row]:
    settings = _pipeline_data(bench)
    context = "inventory"
    log = _log(settings, context)
    say(f"relay: {len(log)} {context} events")
    relay = bootstrap.relay(settings, context)
    try:
        started = time.perf_counter()
        published = relay.catch_up()
        shop = time.perf_counter() - started
    finally:
        relay.close()

    topic = f"{settings.namespace}.bench.raw"
    bootstrap.create_topics(settings, [topic])
    producer = bootstrap.kafka_producer(settings)
    try:
        started = time.perf_counter()
        futures = [producer.send(topic, key=e.key, value=e.to_json()) for e in log]
        producer.flush(timeout=60)
        for future in futures:
            future.get(timeout=60)
        raw = time.perf_counter() - started
    finally:
        producer.close(timeout=10)
    return [
        Row(
            f"relay catch-up ({context})",
            f"{published / shop:,.0f} events/s",
            f"{len(log) / raw:,.0f} msgs/s",
            ratio(published / shop, len(log) / raw),
            f"{len(log)} envelopes; yardstick: kafka-python producer, same config and payloads",
        )
    ]


# --- projectors -------------------------------------------------------------------------


def _document(envelope: Envelope) -> dict[str, object]:
    return {
        "id": envelope.aggregate_id,
        "version": envelope.aggregate_version,
        "position": envelope.position,
        **envelope.payload,
    }


async def _apply_all(spec: ProjectorSpec, logs: dict[str, list[Envelope]]) -> float:
    projector = spec.make()
    try:
        await projector.start()
        started = time.perf_counter()
        for context in spec.contexts:
            log = logs[context]
            for at in range(0, len(log), _BATCH):
                await projector.apply(log[at : at + _BATCH])
        return time.perf_counter() - started
    finally:
        await projector.close()


async def _raw_elasticsearch(settings: Settings, docs: Sequence[dict[str, object]]) -> float:
    es = read_models.async_elasticsearch(settings)
    index = f"{settings.namespace}-bench-raw"
    try:
        started = time.perf_counter()
        for at in range(0, len(docs), _BATCH):
            operations: list[dict[str, object]] = []
            for doc in docs[at : at + _BATCH]:
                operations += [{"index": {"_index": index, "_id": str(doc["id"])}}, doc]
            await es.bulk(operations=operations)
        return time.perf_counter() - started
    finally:
        await es.close()


async def _raw_redis(settings: Settings, docs: Sequence[dict[str, object]]) -> float:
    redis = Redis.from_url(settings.redis_url)
    try:
        started = time.perf_counter()
        for at in range(0, len(docs), _BATCH):
            async with redis.pipeline(transaction=False) as pipe:
                for doc in docs[at : at + _BATCH]:
                    pipe.set(f"{settings.namespace}:bench:{doc['id']}", json.dumps(doc))
                await pipe.execute()
        return time.perf_counter() - started
    finally:
        await redis.aclose()


async def _raw_postgres(settings: Settings, docs: Sequence[dict[str, object]]) -> float:
    table = sql.Identifier(settings.schema_for("bench"), f"raw_{uuid.uuid4().hex[:8]}")
    async with await psycopg.AsyncConnection.connect(settings.database_url) as conn:
        await conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                sql.Identifier(settings.schema_for("bench"))
            )
        )
        await conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id text PRIMARY KEY, version int, position bigint, doc jsonb)"
            ).format(table)
        )
        await conn.commit()
        upsert = sql.SQL(
            "INSERT INTO {} VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO UPDATE"
            " SET version = EXCLUDED.version, position = EXCLUDED.position, doc = EXCLUDED.doc"
            " WHERE {}.version < EXCLUDED.version"
        ).format(table, table)
        started = time.perf_counter()
        for at in range(0, len(docs), _BATCH):
            async with conn.cursor() as cursor:
                await cursor.executemany(
                    upsert,
                    [
                        (d["id"], d["version"], d["position"], json.dumps(d))
                        for d in docs[at : at + _BATCH]
                    ],
                )
            await conn.commit()
        return time.perf_counter() - started


Raw = Callable[[Settings, Sequence[dict[str, object]]], Coroutine[Any, Any, float]]
# Where each read model lives; an unknown projector is measured without a yardstick.
_SERVERS: dict[str, tuple[str, Raw]] = {
    "product-search": ("ES _bulk", _raw_elasticsearch),
    "carts": ("Redis pipeline", _raw_redis),
    "recommendations": ("Redis pipeline", _raw_redis),
    "order-history": ("PG executemany", _raw_postgres),
    "payment-history": ("PG executemany", _raw_postgres),
    "analytics": ("PG executemany", _raw_postgres),
}


def run_projectors(bench: Bench) -> list[Row]:
    settings = _pipeline_data(bench)
    specs = [s for s in read_models.projectors(settings) if s.name not in _SKIPPED]
    contexts = sorted({c for spec in specs for c in spec.contexts})
    logs = {context: _log(settings, context) for context in contexts}
    rows = []
    for spec in specs:
        events = [e for context in spec.contexts for e in logs[context]]
        say(f"projectors: {spec.name}, {len(events)} events")
        shop = asyncio.run(_apply_all(spec, logs))
        figure = f"{len(events) / shop:,.0f} events/s"
        if spec.name not in _SERVERS:
            rows.append(Row(f"projector {spec.name}", figure, "—", None))
            continue
        what, raw_write = _SERVERS[spec.name]
        raw = asyncio.run(raw_write(settings, [_document(e) for e in events]))
        rows.append(
            Row(
                f"projector {spec.name}",
                figure,
                f"{len(events) / raw:,.0f} docs/s ({what})",
                ratio(raw, shop),
                f"{len(events)} events in batches of {_BATCH} from {', '.join(spec.contexts)}",
            )
        )
    return rows
