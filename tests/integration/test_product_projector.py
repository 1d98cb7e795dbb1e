"""The Faust product projector against the real broker and search server."""

from __future__ import annotations

import json
import os
import signal

import pytest
from kafka import KafkaProducer

from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.catalog import a_product, add_products, changing_prices
from tests.support.kafka import read_topic
from tests.support.platform import (
    eventually,
    index_follows_event_store,
    indexed_products,
    run_cli,
    start,
    start_projecting,
)

pytestmark = pytest.mark.integration


def test_killing_relay_and_worker_mid_stream_loses_and_duplicates_nothing(
    settings: Settings, processes: Supervisor
) -> None:
    kettles = add_products(settings, (a_product(f"K-{i}", f"Kettle {i}", "20") for i in range(40)))
    start_projecting(processes, settings)

    with changing_prices(settings, kettles, changes=300, first_minor=2000, seed=7):
        for victim in ("worker", "relay", "worker", "relay"):
            eventually(lambda: len(indexed_products(settings)) > 0, what="projection started")
            os.kill(processes._child(victim).process.pid, signal.SIGKILL)
            processes.stop(victim)
            start(processes, settings, victim)

    index_follows_event_store(settings, timeout=120, what="the index equals the event store")
    # The topic shows the relay's at-least-once redelivery the index absorbed.
    published = read_topic(
        settings.kafka_bootstrap, settings.topic("catalog"), expected=340, timeout=5
    )
    assert len(published) >= 340


def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_projector_carries_on(
    settings: Settings, processes: Supervisor
) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    producer.send(settings.topic("catalog"), key=b"x", value=b"{not json")
    producer.flush()
    producer.close()
    (product_id,) = add_products(settings, [a_product("AFTER-POISON")])
    start_projecting(processes, settings)

    eventually(
        lambda: str(product_id) in indexed_products(settings),
        what="the event after the poison message is projected",
    )
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=1000,
    )
    partitions = [
        TopicPartition(settings.dead_letter_topic, p)
        for p in consumer.partitions_for_topic(settings.dead_letter_topic)
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    dead = [m for batch in consumer.poll(timeout_ms=3000).values() for m in batch]
    consumer.close()
    # Every projection following the catalog parks it for itself; this one exactly once.
    ours = [m for m in dead if dict(m.headers)["projection"] == b"product-search"]
    assert [m.value for m in ours] == [b"{not json"]
    headers = dict(ours[0].headers)
    assert headers["projection"] == b"product-search"
    assert b"MalformedEnvelope" in headers["reason"]

    def caught_up() -> dict[str, object] | None:
        status = run_cli(settings, "projections", "status", "--json", check=True)
        (row,) = [
            r
            for r in json.loads(status.stdout)
            if r["projection"] == "product-search" and r["context"] == "catalog"
        ]
        return row if row["behind_positions"] == 0 else None

    row = eventually(caught_up, what="the status shows the projection caught up")
    assert row["projection"] == "product-search"
    assert row["applied_position"] == row["published_position"] > 0
    assert row["dead_letters"] == 1
