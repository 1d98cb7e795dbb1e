"""The read API's applied positions: kept in memory, pushed by the projectors' NOTIFY."""

from __future__ import annotations

import asyncio
import time

import pytest

from infra import bootstrap
from infra.settings import Settings
from read_api.consistency import AppliedPosition, wait_until_applied
from read_api.positions import AppliedPositions

pytestmark = pytest.mark.integration


def test_a_checkpoint_advance_reaches_a_waiting_reader(settings: Settings) -> None:
    async def scenario() -> tuple[int, int, bool]:
        writer = bootstrap.projection_checkpoints(settings)
        positions = AppliedPositions(
            bootstrap.projection_checkpoints(settings), settings.database_url, partitions=2
        )
        await positions.start()
        try:
            applied = positions.of("products", "catalog")
            await writer.advance("products", "catalog", {0: 5, 1: 7})
            before = await _eventually(positions, applied, 5)

            async def advance_later() -> None:
                await asyncio.sleep(0.3)
                await writer.advance("products", "catalog", {0: 9, 1: 12})

            advancing = asyncio.create_task(advance_later())
            consistency = await wait_until_applied(applied, after=9, wait_seconds=30)
            await advancing
            return before, consistency.applied, consistency.stale
        finally:
            await positions.stop()
            await writer.close()

    before, after, stale = asyncio.run(scenario())
    assert before == 5  # the minimum over both partitions
    assert (after, stale) == (9, False)


def test_without_a_listener_positions_are_read_per_query(settings: Settings) -> None:
    async def scenario() -> int:
        writer = bootstrap.projection_checkpoints(settings)
        positions = AppliedPositions(
            bootstrap.projection_checkpoints(settings), settings.database_url, partitions=1
        )
        try:
            await writer.advance("carts", "carts", {0: 3})
            return await positions.of("carts", "carts")()  # never started: asks Postgres
        finally:
            await writer.close()

    assert asyncio.run(scenario()) == 3


async def _eventually(positions: AppliedPositions, applied: AppliedPosition, want: int) -> int:
    """The position once it is ``want``, or what it is after 10 s of changes."""
    deadline = time.monotonic() + 10
    while (value := await applied()) != want and time.monotonic() < deadline:
        await positions.changed(within=0.5)
    return value
