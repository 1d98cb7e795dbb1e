"""The Faust worker: agents that project the bus into read models.

Each agent reads raw bytes and decodes envelopes itself, so one malformed message
goes to the dead-letter topic with its reason instead of crashing the agent. Offsets
are committed only after a batch is applied, and writes are version-guarded, so a
crash at any point redelivers and re-applies without duplicating anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust
from elasticsearch import AsyncElasticsearch

from projections import product_search
from projections.checkpoints import ProjectionCheckpoints
from projections.sinks.product_index import ProductIndex
from streams.envelope import Envelope, MalformedEnvelope
from streams.watermark import watermark_of

log = logging.getLogger(__name__)
PRODUCT_SEARCH = "product-search"


@dataclass(frozen=True)
class WorkerConfig:
    app_id: str
    broker: str
    catalog_topic: str
    dead_letter_topic: str
    products_alias: str
    datadir: str
    session_timeout: float = 6.0
    batch_size: int = 500
    batch_seconds: float = 0.5


def build_worker(
    config: WorkerConfig,
    es_factory: Callable[[], AsyncElasticsearch],
    checkpoints: ProjectionCheckpoints,
) -> faust.App:
    app = faust.App(
        config.app_id,
        broker=config.broker,
        store="memory://",
        datadir=config.datadir,
        web_enabled=False,
        # Topics are created by `shop provision` with the partition count we choose;
        # Faust must not create them with the broker's default.
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=config.batch_size,
        broker_commit_interval=1.0,
        # Tansu completes a group join after half the session timeout (measured: 60 s → 30 s,
        # 6 s → 3 s); a short one also hands a dead worker's partitions over quickly.
        broker_session_timeout=config.session_timeout,
        broker_heartbeat_interval=config.session_timeout / 4,
    )
    catalog_events = app.topic(config.catalog_topic, key_serializer="raw", value_serializer="raw")
    dead_letters = app.topic(config.dead_letter_topic, key_serializer="raw", value_serializer="raw")

    @app.agent(catalog_events, name=PRODUCT_SEARCH)
    async def project_products(stream: Any) -> None:
        es = es_factory()
        try:
            index = ProductIndex(es, config.products_alias)
            await _with_retries(index.ensure, "product index setup")
            await _project_products(stream, index)
        finally:
            await es.close()

    async def _project_products(stream: Any, index: ProductIndex) -> None:
        async for events in stream.take_events(config.batch_size, within=config.batch_seconds):
            good: list[Envelope] = []
            positions: dict[int, int] = {}
            for event in events:
                partition = event.message.partition
                mark = watermark_of(event.message.headers)
                if mark is not None:
                    positions[partition] = max(positions.get(partition, 0), mark)
                    continue
                try:
                    envelope = Envelope.from_json(event.value)
                except MalformedEnvelope as e:
                    await _dead_letter(dead_letters, checkpoints, PRODUCT_SEARCH, event, e)
                    continue
                positions[partition] = max(positions.get(partition, 0), envelope.position)
                try:
                    product_search.apply(None, envelope)  # poison check: pure and cheap
                except (KeyError, TypeError, ValueError) as e:
                    await _dead_letter(dead_letters, checkpoints, PRODUCT_SEARCH, event, e)
                    continue
                good.append(envelope)
            await _with_retries(partial(index.apply, good), "product index")
            await _with_retries(
                partial(checkpoints.advance, PRODUCT_SEARCH, "catalog", positions), "checkpoint"
            )

    return app


async def _with_retries(action: Callable[[], Any], what: str) -> None:
    """Infrastructure failures are waited out, never skipped: skipping would lose events."""
    delay = 0.5
    while True:
        try:
            await action()
            return
        except Exception as e:
            log.warning("%s failed (%s); retrying in %.1fs", what, e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def _dead_letter(
    topic: Any,
    checkpoints: ProjectionCheckpoints,
    projection: str,
    event: Any,
    error: Exception,
) -> None:
    """Park a message the projection cannot apply: on the dead-letter topic (waiting for the
    broker's acknowledgement, so committing past it never loses it) and in Postgres."""
    message = event.message
    reason = f"{type(error).__name__}: {error}"
    source = f"{message.topic}[{message.partition}]@{message.offset}"
    log.error(
        "dead letter from %s at %s[%d]@%d: %s",
        projection,
        message.topic,
        message.partition,
        message.offset,
        reason,
    )
    delivery = await topic.send(
        key=message.key,
        value=event.value if isinstance(event.value, bytes) else str(event.value).encode(),
        headers={
            "projection": projection.encode(),
            "reason": reason.encode()[:1000],
            "source": source.encode(),
        },
    )
    await delivery
    await _with_retries(
        partial(checkpoints.record_dead_letter, projection, source, reason[:1000]),
        "dead letter record",
    )
