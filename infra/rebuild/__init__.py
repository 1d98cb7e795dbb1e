"""Rebuild a read model from the event store, never from Kafka: one mechanism, a strategy
per kind of store (ADR 0039).

Every strategy reads the same thing, each followed context's notification log from the
start to its head in batches (``Logs``), and writes with the read model's own
version-guarded writes, so events the live projector applies beside it change nothing
twice. They differ in how readers and the live projector are kept whole meanwhile:

- ``postgres.RefillInOneTransaction``: empty and refill the tables in one transaction;
- ``search.SwapIndexBehindAlias``: fill a new index, move the alias, catch up;
- ``redis.ReplaceInPlace``: overwrite versioned documents, never leave one missing;
- ``redis.PauseAndReplay``: pause the live projector, clear, replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from commands.base import ShopApplication
from contract.envelope import Envelope
from infra.settings import Settings
from streams.relay import envelopes

BATCH = 1000


@dataclass
class Rebuilt:
    """How far a rebuild read each log, how many events it applied, and its outcome in
    words (what `shop projections rebuild` prints)."""

    positions: dict[str, int]
    events: int
    outcome: str = field(default="")

    def __post_init__(self) -> None:
        if not self.outcome:
            self.outcome = "rebuilt up to " + (
                f"position {next(iter(self.positions.values()))}"
                if len(self.positions) == 1
                else ", ".join(f"{c} {p}" for c, p in self.positions.items())
            )


class Logs:
    """The notification logs a rebuild reads, one application per context, opened on
    first use and closed together."""

    def __init__(self, open_application: Callable[[str], ShopApplication]) -> None:
        self._open = open_application
        self._applications: dict[str, ShopApplication] = {}

    def _application(self, context: str) -> ShopApplication:
        if context not in self._applications:
            self._applications[context] = self._open(context)
        return self._applications[context]

    def batches(self, context: str, after: int = 0) -> Iterator[tuple[int, list[Envelope]]]:
        """The log after ``after`` to its head: (last position, envelopes) per batch."""
        app, position = self._application(context), after
        while notifications := app.recorder.select_notifications(
            start=position, limit=BATCH, inclusive_of_start=False
        ):
            position = notifications[-1].id
            yield position, envelopes(app, notifications)

    def has_aggregate(self, context: str, aggregate_id: str) -> bool:
        """Whether the log holds the aggregate (appended after it was read, perhaps)."""
        try:
            originator = UUID(aggregate_id)
        except ValueError:
            return False
        return bool(self._application(context).recorder.select_events(originator, limit=1))

    def close(self) -> None:
        for app in self._applications.values():
            app.close()
        self._applications.clear()


class Rebuild(Protocol):
    """A strategy: rebuild one read model of ``settings``'s namespace from ``logs``."""

    async def __call__(
        self, settings: Settings, logs: Logs, contexts: tuple[str, ...], name: str
    ) -> Rebuilt: ...
