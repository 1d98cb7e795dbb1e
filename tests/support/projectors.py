"""Driving a read model by hand, as the worker's agent does: started once, batches applied
in turn, closed at the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

from contract.envelope import Envelope


class Applies(Protocol):
    """What the worker calls on a projector (or the notifier) around its batches."""

    async def start(self) -> None: ...

    async def apply(self, envelopes: Sequence[Envelope]) -> None: ...

    async def close(self) -> None: ...


A = TypeVar("A", bound=Applies)


@asynccontextmanager
async def started(projector: A) -> AsyncIterator[A]:
    """``projector`` started, and closed when the block ends, also when a batch fails."""
    await projector.start()
    try:
        yield projector
    finally:
        await projector.close()


def apply_batches(projector: Applies, *batches: Sequence[Envelope]) -> None:
    """Apply ``batches`` in turn on one event loop; a batch that fails raises here."""

    async def in_turn() -> None:
        async with started(projector):
            for batch in batches:
                await projector.apply(batch)

    asyncio.run(in_turn())
