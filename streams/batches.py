"""Batches of a Faust stream that cost nothing while the stream is idle.

Faust's ``Stream.take_events(max_, within)`` wakes every ``within`` seconds whether or not an
event came: with our 10 ms flush window and one agent per projector and context, an idle
worker woke about a thousand times a second and spent a tenth of a core doing it (measured:
0.1 CPU-second a second, idle, before this module; the saga half that). ``batches`` keeps its
contract (at most ``max_`` events, handed over at most ``within`` after the first of them,
each acked only after the loop body that received it has returned, so a crash redelivers)
but sleeps until an event arrives when there is none, and hands a batch over as soon as the
stream goes quiet (``IDLE_SECONDS``) instead of always waiting out ``within``.

It mirrors ``take_events`` of the Faust release we pin (a processor fills the buffer while
the stream is drained passively); the differences are the wait for the first event and the
hand-over once the stream is quiet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from mode.utils.futures import notify

# A batch is handed over once no event has joined it for this long: a lone change is applied
# at once, while a burst (a Kafka fetch delivers many records within microseconds) still
# fills a batch.
IDLE_SECONDS = 0.002


async def batches(stream: Any, max_: int, within: float) -> AsyncIterator[list[Any]]:
    """The stream's events, ``max_`` at most at a time, ``within`` seconds after the first."""
    events: list[Any] = []
    arrived = asyncio.Event()  # the buffer holds an event: the ``within`` clock runs
    full = asyncio.Event()
    consumed = asyncio.Event()
    consuming: asyncio.Future[None] | None = None  # the loop body holds the batch

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        if consuming is not None:
            try:
                await consuming  # no event joins a batch that is being applied
            finally:
                consuming = None
        event = stream.current_event
        if event is None:
            raise RuntimeError("batches: a value arrived without its event")
        events.append(event)
        arrived.set()
        if len(events) >= max_:
            full.set()
            consumed.clear()
            await stream.wait(consumed)  # never more than max_ in one batch
        return value

    acks = stream.enable_acks
    stream.enable_acks = False  # acked here, after the batch is applied
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            if not events and await stream.wait_for_stopped(arrived):
                break  # idle until here: no timer
            await _gather(stream, events, full, within)
            if not events:
                continue
            consuming = asyncio.get_running_loop().create_future()
            try:
                yield list(events)
            finally:
                for event in events:
                    await stream.ack(event)
                events.clear()
                arrived.clear()
                full.clear()
                notify(consuming)
                consumed.set()
    finally:
        stream.enable_acks = acks
        stream._processors.remove(add_to_buffer)


async def _gather(stream: Any, events: list[Any], full: asyncio.Event, within: float) -> None:
    """Let the batch grow until it is full, ``within`` has passed since its first event, or
    the stream has gone quiet for ``IDLE_SECONDS``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not full.is_set():
        left = deadline - loop.time()
        if left <= 0:
            return
        size = len(events)
        await stream.wait_for_stopped(full, timeout=min(IDLE_SECONDS, left))
        if len(events) == size:
            return  # nothing more came: the stream is idle
