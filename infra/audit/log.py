"""Reading a context's event log as integration envelopes: export (JSON Lines, paged by
position, constant memory) and tail (follow new events live)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from commands.base import ShopApplication
from contract.envelope import Envelope
from streams.relay import envelopes

PAGE = 1000


def read_log(app: ShopApplication, start: int = 1, page: int = PAGE) -> Iterator[Envelope]:
    """Every event from position ``start`` on, one page in memory at a time."""
    position = max(start - 1, 0)
    while notifications := app.recorder.select_notifications(
        start=position, limit=page, inclusive_of_start=False
    ):
        yield from envelopes(app, notifications)
        position = notifications[-1].id


def head(app: ShopApplication) -> int:
    return app.recorder.max_notification_id() or 0


def follow(
    dsn: str,
    apps: Sequence[ShopApplication],
    after: dict[str, int],
    emit: Callable[[Envelope], None],
    keep_going: Callable[[], bool],
    poll_seconds: float = 1.0,
) -> None:
    """Emit each context's events after ``after[context]`` as they are stored, until
    ``keep_going()`` is false. Wakes on the event store's NOTIFY; polls as a fallback."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for app in apps:
            channel: Any = app.recorder.channel_name  # type: ignore[attr-defined]
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        while keep_going():
            for app in apps:
                for envelope in read_log(app, after[app.context] + 1):
                    emit(envelope)
                    after[app.context] = envelope.position
                    if not keep_going():
                        return
            for _ in conn.notifies(timeout=poll_seconds, stop_after=1):
                pass
