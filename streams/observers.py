"""What the relay and the projector worker tell an observer (metrics and health live in
``infra.observability``; see ``commands.observers`` for why hooks)."""

from __future__ import annotations


class RelayObserver:
    def leading(self, context: str, leader: bool) -> None:
        """This relay holds the context's lock (True) or waits as a standby (False)."""

    def published(self, context: str, events: int, seconds: float) -> None:
        """A batch of ``events`` events was published and acknowledged in ``seconds``."""

    def republished(self, context: str) -> None:
        """The topic lost messages: the whole log is published again."""

    def failed(self, context: str, error: BaseException | None) -> None:
        """The last attempt failed with ``error``, or (None) succeeded again."""


class ProjectionObserver:
    def applied(self, projection: str, context: str, events: int, seconds: float) -> None:
        """A batch of ``events`` events was applied (and its checkpoint advanced)."""

    def dead_lettered(self, projection: str, context: str) -> None: ...

    def caught_up(self, projection: str, context: str, events: int) -> None:
        """Events Kafka no longer held were read from the event store."""


NO_RELAY_OBSERVER = RelayObserver()
NO_PROJECTION_OBSERVER = ProjectionObserver()
