"""The Faust worker: one agent per projector and followed context.

Each agent reads raw bytes and decodes envelopes itself, so one malformed message goes to
the dead-letter topic with its reason instead of crashing the agent. Offsets are committed
only after a batch is applied, and every write is version-guarded, so a crash at any point
redelivers and re-applies without duplicating anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import faust

from contract.envelope import Envelope, MalformedEnvelope
from contract.trace_context import envelope_context
from contract.watermark import watermark_of
from projections.checkpoints import ProjectionCheckpoints
from projections.projector import Projector, ProjectorSpec
from projections.sinks.postgres import PostgresProjector
from streams.batches import batches
from streams.catchup import StoreCatchUp
from streams.faust_app import faust_app
from streams.observers import NO_PROJECTION_OBSERVER, ProjectionObserver
from streams.tracing import process_span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    app_id: str
    broker: str
    topics: Mapping[str, str]  # context → topic
    dead_letter_topic: str
    datadir: str
    session_timeout: float = 6.0
    partitions: int = 4  # what `shop provision` creates the topics with
    batch_size: int = 500
    batch_seconds: float = 0.01  # see Settings.stream_flush_seconds
    fetch_max_wait_ms: int = 1500  # see Settings.kafka_fetch_max_wait_ms


def build_worker(
    config: WorkerConfig,
    projectors: Sequence[ProjectorSpec],
    checkpoints: ProjectionCheckpoints,
    catch_up: Callable[[str], StoreCatchUp],
    observer: ProjectionObserver = NO_PROJECTION_OBSERVER,
) -> faust.App:
    """A Faust app running every projector."""
    app = faust_app(config)
    dead_letters = app.topic(config.dead_letter_topic, key_serializer="raw", value_serializer="raw")
    for spec in projectors:
        _add_agents(app, config, spec, checkpoints, dead_letters, catch_up, observer)
    return app


def _add_agents(
    app: faust.App,
    config: WorkerConfig,
    spec: ProjectorSpec,
    checkpoints: ProjectionCheckpoints,
    dead_letters: Any,
    catch_up: Callable[[str], StoreCatchUp],
    observer: ProjectionObserver,
) -> None:
    for context in spec.contexts:
        topic = app.topic(config.topics[context], key_serializer="raw", value_serializer="raw")

        async def run(stream: Any, context: str = context) -> None:
            projector = spec.make()
            gaps = _Gaps(projector.name, context, checkpoints, catch_up(context), observer)
            try:
                await _with_retries(projector.start, f"{spec.name} start")
                # This loop lives as long as the worker: batches borrow pooled connections.
                await checkpoints.open()
                if isinstance(projector, PostgresProjector):
                    await projector.connections.open()
                await _project(stream, projector, gaps, config, checkpoints, dead_letters, observer)
            finally:
                gaps.close()
                await projector.close()

        app.agent(topic, name=f"{spec.name}.{context}")(run)


async def _project(
    stream: Any,
    projector: Projector,
    gaps: _Gaps,
    config: WorkerConfig,
    checkpoints: ProjectionCheckpoints,
    dead_letters: Any,
    observer: ProjectionObserver,
) -> None:
    name, context = projector.name, gaps.context
    async for events in batches(stream, config.batch_size, config.batch_seconds):
        started = time.perf_counter()
        good: list[Envelope] = []
        headers: dict[str, Any] = {}  # event id → the Kafka headers it came with
        positions: dict[int, int] = {}
        for event in events:
            partition = event.message.partition
            mark = watermark_of(event.message.headers)
            if mark is not None:
                # A watermark says every event up to ``mark`` was published before it.
                recovered = await gaps.fill(event.message, positions, mark, inclusive=True)
                good.extend(await _checked(projector, recovered, checkpoints, observer, context))
                positions[partition] = max(positions.get(partition, 0), mark)
                continue
            try:
                envelope = Envelope.from_json(event.value)
            except MalformedEnvelope as e:
                await _dead_letter(dead_letters, checkpoints, projector.name, event, e)
                observer.dead_lettered(name, context)
                continue
            recovered = await gaps.fill(event.message, positions, envelope.position)
            good.extend(await _checked(projector, recovered, checkpoints, observer, context))
            positions[partition] = max(positions.get(partition, 0), envelope.position)
            try:
                projector.check(envelope)
            except (KeyError, TypeError, ValueError) as e:
                await _dead_letter(dead_letters, checkpoints, projector.name, event, e)
                observer.dead_lettered(name, context)
                continue
            good.append(envelope)
            headers[envelope.event_id] = event.message.headers
        with process_span(
            name,
            config.topics[context],
            config.app_id,
            [envelope_context(e, headers.get(e.event_id)) for e in good],
            **{"shop.projection": name, "shop.context": context},
        ):
            await _with_retries(partial(projector.apply, good), f"{name} apply")
            await _with_retries(
                partial(checkpoints.advance, name, context, positions), "checkpoint"
            )
        observer.applied(name, context, len(good), time.perf_counter() - started)


async def _checked(
    projector: Projector,
    envelopes: list[Envelope],
    checkpoints: ProjectionCheckpoints,
    observer: ProjectionObserver,
    context: str,
) -> list[Envelope]:
    """The events read from the store that the projection can apply; the others are recorded
    as dead letters (they have no Kafka message to park)."""
    good = []
    for envelope in envelopes:
        try:
            projector.check(envelope)
        except (KeyError, TypeError, ValueError) as e:
            source = f"store:{envelope.context}@{envelope.position}"
            reason = f"{type(e).__name__}: {e}"[:1000]
            log.error("dead letter from %s at %s: %s", projector.name, source, reason)
            await _with_retries(
                partial(checkpoints.record_dead_letter, projector.name, source, reason),
                "dead letter record",
            )
            observer.dead_lettered(projector.name, context)
        else:
            good.append(envelope)
    return good


class _Gaps:
    """Notices when Kafka skipped messages of a partition and fetches them from the store.

    The first message of a partition this agent sees, and any message whose offset does not
    follow the previous one (the consumer was reset past retention, or the topic was recreated),
    is compared with the projection's checkpoint: events of that partition between the two are
    read from the event store and applied before it. In the usual case the range holds no event
    of the partition and nothing is read but ids.
    """

    def __init__(
        self,
        projection: str,
        context: str,
        checkpoints: ProjectionCheckpoints,
        store: StoreCatchUp,
        observer: ProjectionObserver = NO_PROJECTION_OBSERVER,
    ) -> None:
        self.observer = observer
        self.projection = projection
        self.context = context
        self._checkpoints = checkpoints
        self._store = store
        self._next_offset: dict[int, int] = {}

    async def fill(
        self, message: Any, batch: dict[int, int], position: int, *, inclusive: bool = False
    ) -> list[Envelope]:
        partition, offset = message.partition, message.offset
        expected = self._next_offset.get(partition)
        self._next_offset[partition] = offset + 1
        if expected == offset:
            return []
        applied = await self._checkpoints.positions(self.projection, self.context)
        after = max(applied.get(partition, 0), batch.get(partition, 0))
        until = position if inclusive else position - 1
        if until <= after:
            return []
        missing = await asyncio.to_thread(self._store.missing, partition, after, until)
        if missing:
            self.observer.caught_up(self.projection, self.context, len(missing))
            log.warning(
                "%s: %s[%d] lacks %d events between positions %d and %d; "
                "applying them from the event store",
                self.projection,
                message.topic,
                partition,
                len(missing),
                after,
                until,
            )
        return missing

    def close(self) -> None:
        self._store.close()


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
