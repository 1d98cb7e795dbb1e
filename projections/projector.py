"""What the worker needs from a read model: a name, the contexts it follows, a pure poison
check, and an idempotent batch apply. Sinks stay free of Kafka and Faust."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from contract.envelope import Envelope


class Projector(Protocol):
    name: str

    def check(self, envelope: Envelope) -> None:
        """Raise KeyError, TypeError or ValueError for an event this read model can never
        apply (a poison event). Pure: no I/O."""

    async def start(self) -> None:
        """Prepare the read model (create an index, a table); idempotent."""

    async def apply(self, envelopes: Sequence[Envelope]) -> None:
        """Apply a batch, in order per aggregate. Idempotent: re-applying changes nothing."""

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ProjectorSpec:
    """A projector the worker runs: one agent per followed context, each with its own
    instance from ``make`` (called in the worker, where clients may be opened)."""

    name: str
    contexts: tuple[str, ...]
    make: Callable[[], Projector]
