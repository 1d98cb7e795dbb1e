"""Reading topics back in tests, with kafka-python (no consumer group: no join wait)."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from contract.envelope import Envelope
from contract.watermark import watermark_of


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 20.0) -> list[Envelope]:
    """Every message of ``topic`` from the start, once at least ``expected`` have arrived."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=500,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:  # not (yet) on this broker, e.g. one that just restarted empty
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        messages: list[Envelope] = []
        deadline = time.monotonic() + timeout
        while len(messages) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                messages.extend(
                    Envelope.from_json(m.value) for m in batch if watermark_of(m.headers) is None
                )
        return messages
    finally:
        consumer.close()
