"""What the worker needs from a read model: a name, the contexts it follows, a pure poison
check, and an idempotent batch apply. Sinks stay free of Kafka and Faust."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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


class Store(Protocol):
    async def ensure(self) -> None:
        """Check the store answers and prepare it (an index, a script); idempotent."""

    async def apply(self, envelopes: Sequence[Envelope]) -> Any: ...


class StoreProjector:
    """A read model whose store applies a batch itself (Redis, the search index): the
    projector adds its name, its poison check and the client to close."""

    name: str

    def __init__(self, store: Store, close: Callable[[], Awaitable[None]]) -> None:
        self.store = store
        self._close = close

    def check(self, envelope: Envelope) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        await self.store.ensure()

    async def apply(self, envelopes: Sequence[Envelope]) -> None:
        await self.store.apply(envelopes)

    async def close(self) -> None:
        await self._close()
