"""The relay's view of its topic: create it with our partition count when it is missing, and
notice when the broker no longer holds what was published to it.

End offsets of a topic never go down while the topic lives (retention and compaction move the
start, not the end). So if the topic holds fewer messages than the relay counted after its last
publish, the topic was recreated or the broker lost its data (an in-memory broker restarted),
and the whole log must be published again; consumers ignore what they already applied.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


class TopicWatch:
    def __init__(
        self, bootstrap: list[str], topic: str, partitions: int, replication_factor: int
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.partitions = partitions
        self.replication_factor = replication_factor
        self._consumer: Any = None

    def ensure(self) -> None:
        """Create the topic if it is missing."""
        ensure_topics(self.bootstrap, [self.topic], self.partitions, self.replication_factor)

    def message_count(self) -> int:
        """The sum of the topic's end offsets: every message it ever accepted."""
        if self._consumer is None:
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            partitions = self._consumer.partitions_for_topic(self.topic) or set()
            ends = self._consumer.end_offsets([TopicPartition(self.topic, p) for p in partitions])
            return int(sum(ends.values()))
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close()


def ensure_topics(
    bootstrap: list[str], names: list[str], partitions: int, replication_factor: int
) -> None:
    """Create those of ``names`` that are missing, with our partition count (never the broker's
    default); one admin connection for all of them. Only ``names`` are described: listing
    every topic costs a metadata answer as large as the cluster, at every relay start."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        existing = {
            topic["name"]
            for topic in admin.describe_topics(names)
            if topic["error_code"] == 0  # the others: 3, unknown topic (never auto-created)
        }
        missing = [
            NewTopic(name, partitions, replication_factor) for name in names if name not in existing
        ]
        if missing:
            with suppress(TopicAlreadyExistsError):  # another process was quicker
                admin.create_topics(missing)
    finally:
        admin.close()
