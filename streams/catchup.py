"""Catching up from the event store when Kafka no longer holds what a projector needs.

A topic may be recreated, or retention may delete messages a projector has not applied yet
(it was stopped for longer than the retention period). The consumer then starts at the oldest
message the broker still has, silently past the missing ones. The worker notices that
(see ``streams.worker``) and asks a ``StoreCatchUp`` for the events of that partition it has
not applied: they are read from the event store, the source of truth, not from Kafka.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from kafka.partitioner.default import murmur2

from commands.base import ShopApplication
from contract.envelope import Envelope
from streams.relay import envelopes


def partition_of(key: bytes, partitions: int) -> int:
    """The partition a keyed message lands in: kafka-python's (and the Java client's) default
    partitioner, which the relay uses."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


class StoreCatchUp:
    """Reads, for one context, the events a partition should have carried in a range."""

    def __init__(
        self, app_factory: Callable[[], ShopApplication], partitions: int, page: int = 1000
    ) -> None:
        self._app_factory = app_factory
        self._app: ShopApplication | None = None
        self.partitions = partitions
        self.page = page

    def missing(self, partition: int, after: int, until: int) -> list[Envelope]:
        """The events on ``partition`` with ``after < position <= until``, in log order."""
        app = self._application()
        found: list[Envelope] = []
        start = after
        while start < until:
            notifications = app.recorder.select_notifications(
                start=start, limit=self.page, stop=until, inclusive_of_start=False
            )
            if not notifications:
                break
            ours = [n for n in notifications if self._partition(n.originator_id) == partition]
            found.extend(envelopes(app, ours))
            start = notifications[-1].id
        return found

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None

    def _application(self) -> ShopApplication:
        if self._app is None:
            self._app = self._app_factory()
        return self._app

    def _partition(self, originator_id: UUID | str) -> int:
        return partition_of(str(originator_id).encode(), self.partitions)
