"""Searching everything a namespace stores for given values: Postgres, Kafka, Elasticsearch,
Redis and log files. Each hit names where it was found, never the value."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql
from redis import Redis

from commands.base import ShopApplication
from infra import bootstrap
from infra.settings import Settings


def _found(blob: bytes, needles: Iterable[str]) -> list[str]:
    lowered = blob.lower()
    return [n for n in needles if n.lower().encode() in lowered]


def _text_of(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return json.dumps(value, default=str, ensure_ascii=False).encode()


def postgres_hits(settings: Settings, needles: list[str]) -> list[str]:
    """Every table of every schema of the namespace, each row as text and each value as
    bytes (bytea as stored, not its hex rendering)."""
    hits = []
    with psycopg.connect(settings.database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema LIKE %s",
            (f"{settings.namespace}\\_%",),
        ).fetchall()
        assert tables, "no tables to scan: wrong namespace?"
        for schema, table in tables:
            name = sql.Identifier(schema, table)
            rows = conn.execute(sql.SQL("SELECT t::text, t.* FROM {} t").format(name))
            for row in rows:
                for value in row:
                    for needle in _found(_text_of(value), needles):
                        hits.append(f"postgres {schema}.{table}: {needle}")
    return sorted(set(hits))


def event_hits(settings: Settings, needles: list[str]) -> list[str]:
    """Every stored event with the at-rest encryption removed (what someone holding the
    event key, but no user's data key, could read) and as the application decodes it."""
    hits = []
    for context in bootstrap.CONTEXTS:
        app = bootstrap.application(settings, context)
        try:
            for notification in _all_notifications(app):
                assert app.mapper.cipher is not None
                opened = app.mapper.cipher.decrypt(notification.state)
                for needle in _found(opened, needles):
                    hits.append(f"events {context} without the at-rest layer: {needle}")
                decoded = app.mapper.to_domain_event(notification)
                for needle in _found(_text_of(vars(decoded)), needles):
                    hits.append(f"events {context} as the application reads them: {needle}")
        finally:
            app.close()
    return sorted(set(hits))


def _all_notifications(app: ShopApplication) -> Iterator[Any]:
    start = 1
    while True:
        batch = app.recorder.select_notifications(start, 500)
        if not batch:
            return
        yield from batch
        start = batch[-1].id + 1


def kafka_hits(settings: Settings, needles: list[str]) -> list[str]:
    """Every message (key, value, headers) of every topic of the namespace."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    hits = []
    try:
        topics = sorted(t for t in consumer.topics() if t.startswith(settings.namespace))
        assert topics, "no topics to scan"
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in consumer.partitions_for_topic(topic) or ()
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            polled = consumer.poll(timeout_ms=1000)
            if not polled:
                break
            for tp, messages in polled.items():
                for m in messages:
                    blob = b"".join(
                        [m.key or b"", m.value or b"", *(v or b"" for _, v in m.headers)]
                    )
                    hits += [f"kafka {tp.topic}: {n}" for n in _found(blob, needles)]
    finally:
        consumer.close()
    return sorted(set(hits))


def elasticsearch_hits(settings: Settings, needles: list[str]) -> list[str]:
    """Every document of every index of the namespace."""
    es = Elasticsearch(settings.elasticsearch_url)
    hits = []
    try:
        indices = list(es.indices.get(index=f"{settings.namespace}*"))
        for index in indices:
            es.indices.refresh(index=index)
            found = es.search(index=index, size=10_000, query={"match_all": {}})["hits"]["hits"]
            for needle in _found(_text_of(found), needles):
                hits.append(f"elasticsearch {index}: {needle}")
    finally:
        es.close()
    return sorted(set(hits))


def redis_hits(settings: Settings, needles: list[str]) -> list[str]:
    """Every key of the database (all namespaces), name and value."""
    client = Redis.from_url(settings.redis_url)
    hits = []
    try:
        for key in client.scan_iter(count=1000):
            raw_kind: Any = client.type(key)
            kind = raw_kind.decode() if isinstance(raw_kind, bytes) else str(raw_kind)
            value: Any
            match kind:
                case "string":
                    value = client.get(key)
                case "hash":
                    value = client.hgetall(key)
                case "list":
                    value = client.lrange(key, 0, -1)
                case "set":
                    value = client.smembers(key)
                case "zset":
                    value = client.zrange(key, 0, -1, withscores=True)
                case "stream":
                    value = client.xrange(key)
                case _:
                    value = None
            blob = key + repr(value).encode() + _raw_values(value)
            hits += [f"redis {key.decode(errors='replace')}: {n}" for n in _found(blob, needles)]
    finally:
        client.close()
    return sorted(set(hits))


def _raw_values(value: Any) -> bytes:
    # repr() escapes non-ASCII bytes; the raw bytes are searched too.
    match value:
        case bytes():
            return value
        case dict():
            return b"".join(_raw_values(k) + _raw_values(v) for k, v in value.items())
        case list() | set() | tuple():
            return b"".join(_raw_values(v) for v in value)
        case _:
            return b""


def log_hits(log_dirs: Iterable[Path], needles: list[str]) -> list[str]:
    hits = []
    for log_dir in log_dirs:
        for path in sorted(log_dir.rglob("*")):
            if path.is_file():
                hits += [f"log {path.name}: {n}" for n in _found(path.read_bytes(), needles)]
    return sorted(set(hits))


def everywhere(settings: Settings, needles: list[str], log_dirs: Iterable[Path]) -> list[str]:
    return [
        *postgres_hits(settings, needles),
        *event_hits(settings, needles),
        *kafka_hits(settings, needles),
        *elasticsearch_hits(settings, needles),
        *redis_hits(settings, needles),
        *log_hits(log_dirs, needles),
    ]
