"""A projector that finds Kafka no longer holds what it needs catches up from the event store.

The broker here holds only part of the log (as after retention): events are written to the
event store, and only some of their envelopes are produced to the topic, with no relay running
(a relay would publish everything). The projection must still show every event.
"""

from __future__ import annotations

import random
from uuid import UUID

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.partitioner.default import DefaultPartitioner

from contract.watermark import watermark_header
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from streams.catchup import partition_of
from streams.relay import envelopes
from tests.support.catalog import a_product, add_products
from tests.support.platform import eventually, indexed_products, start

pytestmark = pytest.mark.integration


def publish_only(settings: Settings, positions: range) -> None:
    """Put on the catalog topic the envelopes of these log positions and, as the relay does
    after each batch, a watermark on every partition; nothing else."""
    catalog = bootstrap.catalog(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        notifications = catalog.recorder.select_notifications(positions.start, len(positions))
        for envelope in envelopes(catalog, notifications):
            producer.send(settings.topic("catalog"), key=envelope.key, value=envelope.to_json())
        for partition in range(settings.kafka_partitions):
            producer.send(
                settings.topic("catalog"),
                value=b"",
                partition=partition,
                headers=watermark_header(positions[-1]),
            )
        producer.flush()
    finally:
        producer.close()
        catalog.close()


def indexed(settings: Settings, ids: list[UUID]) -> bool:
    return set(indexed_products(settings)) == {str(i) for i in ids}


def test_a_fresh_projector_rebuilds_what_retention_removed_from_the_event_store(
    settings: Settings, processes: Supervisor
) -> None:
    ids = add_products(settings, (a_product(f"R-{i}") for i in range(30)))
    publish_only(settings, range(21, 31))  # retention took positions 1..20

    start(processes, settings, "worker")

    eventually(lambda: indexed(settings, ids), what="all 30 products indexed, not only 10")


def test_a_stopped_projector_whose_topic_lost_events_applies_them_from_the_store(
    settings: Settings, processes: Supervisor
) -> None:
    first = add_products(settings, (a_product(f"S-{i}") for i in range(10)))
    start(processes, settings, "relay")
    start(processes, settings, "worker")
    eventually(lambda: indexed(settings, first), what="the first 10 products indexed")
    processes.stop("relay")
    processes.stop("worker")

    later = add_products(settings, (a_product(f"T-{i}") for i in range(10)))
    # The topic is recreated and holds only the newest events: its committed offsets now point
    # past what it holds, and positions 11..15 are nowhere on the broker.
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.delete_topics([settings.topic("catalog")])
    admin.close()
    bootstrap.create_topics(settings, [settings.topic("catalog")])
    publish_only(settings, range(16, 21))
    start(processes, settings, "worker")

    eventually(lambda: indexed(settings, first + later), what="all 20 products indexed")


def test_partition_of_agrees_with_the_producers_partitioner() -> None:
    rng = random.Random(3)
    partitioner = DefaultPartitioner()

    class Cluster:
        def topics(self) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, _: str) -> set[int]:
            return set(range(partitions))

        def available_partitions_for_topic(self, _: str) -> set[int]:
            return set(range(partitions))

    for partitions in (1, 3, 4, 12):
        for _ in range(200):
            key = str(UUID(int=rng.getrandbits(128))).encode()
            expected = partitioner.partition("t", key, key, None, None, Cluster())
            assert partition_of(key, partitions) == expected
