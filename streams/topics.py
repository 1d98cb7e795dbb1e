"""The relay's view of its topic: create it with our partition count when it is missing, and
notice when the broker no longer holds what was published to it.

End offsets of a topic never go down while the topic lives (retention and compaction move the
start, not the end). So if the topic holds fewer messages than the relay counted after its last
publish, the topic was recreated or the broker lost its data (an in-memory broker restarted),
and the whole log must be published again; consumers ignore what they already applied.
"""

from __future__ import annotations

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

    def ensure(self) -> bool:
        """Create the topic if it is missing; True if this call created it."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            if self.topic in admin.list_topics():
                return False
            admin.create_topics([NewTopic(self.topic, self.partitions, self.replication_factor)])
            return True
        except TopicAlreadyExistsError:
            return False
        finally:
            admin.close()

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
