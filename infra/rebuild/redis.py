"""Redis read models: documents replaced in place, or counts replayed behind a pause."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from contract.envelope import Envelope
from infra.rebuild import BATCH, Logs, Rebuilt
from infra.settings import Settings

log = logging.getLogger(__name__)
_MAX_PASSES = 10
_FLAG_SECONDS = 600  # a crashed rebuild must not pause the projector for ever

View = dict[str, Any]


class RebuildDidNotConverge(RuntimeError):
    pass


class Documents(Protocol):
    """A store of one versioned document per aggregate (the carts)."""

    async def write_many(
        self, views: Sequence[View], *, authoritative: bool = False
    ) -> list[bool]: ...

    async def get_many(self, ids: Sequence[str]) -> dict[str, View | None]: ...

    async def ids(self) -> set[str]: ...

    async def delete(self, ids: Iterable[str]) -> None: ...

    async def index(self, views: Iterable[View]) -> None: ...

    async def prune_index(self) -> None: ...


@dataclass(frozen=True)
class ReplaceInPlace:
    """Documents are replaced rather than deleted first: a live projector that found a key
    missing would start it from whatever event it holds next, and that partial document
    could then outrank the rebuild. So the rebuild

    1. folds the whole log into one view per aggregate, in memory;
    2. writes every view *authoritatively*: a stored document of the same or a lower
       version is replaced (repairing gaps a dead-lettered event left), only a newer one,
       which the live projector wrote from events appended since step 1, is refused;
    3. reads the log on from where step 1 stopped and rewrites the refused ones, until
       none is refused (a projector cannot stay ahead of a log read to its head for long);
    4. clears what the event store does not know: documents of no aggregate in the log,
       and index entries that no longer match.

    The result equals "delete everything, then replay", without a window of missing or
    partial documents for readers and the live projector."""

    store: Callable[[Redis, str], Documents]
    fold: Callable[[View | None, Envelope], View | None]

    async def __call__(
        self, settings: Settings, logs: Logs, contexts: tuple[str, ...], name: str
    ) -> Rebuilt:
        (context,) = contexts
        client = Redis.from_url(settings.redis_url)
        store = self.store(client, settings.namespace)
        try:
            views: dict[str, View] = {}
            position, to_write, events = self._fold(logs, context, views, after=0)
            for _ in range(_MAX_PASSES):
                refused = await _write(store, [views[i] for i in sorted(to_write)])
                if not refused:
                    break
                position, touched, more = self._fold(logs, context, views, after=position)
                to_write, events = touched | refused, events + more
            else:
                raise RebuildDidNotConverge(f"{name} {sorted(to_write)} stayed ahead of the log")
            unknown = await store.ids() - set(views)
            orphans = [i for i in unknown if not logs.has_aggregate(context, i)]
            await store.delete(orphans)
            stored = await store.get_many(sorted(views))
            await store.index(view for view in stored.values() if view is not None)
            await store.prune_index()
        finally:
            await client.aclose()
        log.info(
            "%s: rebuilt %d up to position %d (%d orphans removed)",
            name,
            len(views),
            position,
            len(orphans),
        )
        return Rebuilt({context: position}, events, f"rebuilt with {len(views)} {name}")

    def _fold(
        self, logs: Logs, context: str, views: dict[str, View], after: int
    ) -> tuple[int, set[str], int]:
        """Fold the log after ``after`` into ``views``: the last position, the ids it
        changed and how many events it read."""
        position, touched, events = after, set[str](), 0
        for last, batch in logs.batches(context, after):
            position, events = last, events + len(batch)
            for envelope in batch:
                changed = self.fold(views.get(envelope.aggregate_id), envelope)
                if changed is not None:
                    views[envelope.aggregate_id] = changed
                    touched.add(envelope.aggregate_id)
        return position, touched, events


async def _write(store: Documents, views: list[View]) -> set[str]:
    """Write views authoritatively; the ids refused because a newer one is stored."""
    refused: set[str] = set()
    for start in range(0, len(views), BATCH):
        chunk = views[start : start + BATCH]
        written = await store.write_many(chunk, authoritative=True)
        refused.update(v["id"] for v, ok in zip(chunk, written, strict=True) if not ok)
    return refused


class Paused(Protocol):
    """A store whose live writes wait while its ``rebuilding_key`` is set (the counts of
    recommendations: they cannot be replaced in place)."""

    @property
    def rebuilding_key(self) -> str: ...

    async def clear(self) -> None: ...

    async def apply(self, envelopes: Sequence[Envelope], *, rebuild: bool = False) -> int: ...


@dataclass(frozen=True)
class PauseAndReplay:
    """Raise the ``rebuilding`` flag, which the projector's script checks atomically (its
    batch then fails and the worker retries it later); delete the old keys; replay the log
    through the same script; lower the flag. What the projector retries afterwards is
    version-guarded, so nothing counts twice. Queries answer from partial data meanwhile
    (seconds for a shop's order log)."""

    store: Callable[[Redis, str], Paused]

    async def __call__(
        self, settings: Settings, logs: Logs, contexts: tuple[str, ...], name: str
    ) -> Rebuilt:
        client = Redis.from_url(settings.redis_url)
        store = self.store(client, settings.namespace)
        positions, total = dict.fromkeys(contexts, 0), 0
        try:
            await client.set(store.rebuilding_key, "1", ex=_FLAG_SECONDS)
            await store.clear()
            for context in contexts:
                for position, batch in logs.batches(context):
                    await client.expire(store.rebuilding_key, _FLAG_SECONDS)
                    await store.apply(batch, rebuild=True)
                    positions[context], total = position, total + len(batch)
        finally:
            await client.delete(store.rebuilding_key)
            await client.aclose()
        log.info("%s: rebuilt from %d events up to %s", name, total, positions)
        return Rebuilt(positions, total)
