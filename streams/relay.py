"""The relay: follows a context's notification log and publishes envelopes to Kafka.

At-least-once: publish a batch, wait for every acknowledgement, then advance the
checkpoint. A crash between the two re-publishes the batch; consumers deduplicate by
aggregate version. Notification ids are committed in order (the event store locks
the table on insert), so reading "after the checkpoint" never skips an event.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import Notification
from psycopg import sql

from commands.base import ShopApplication
from contract.envelope import Envelope, envelope_for
from contract.watermark import watermark_header
from streams.checkpoints import RelayCheckpoints
from streams.observers import NO_RELAY_OBSERVER, RelayObserver
from streams.topics import TopicWatch
from streams.tracing import publish_span

log = logging.getLogger(__name__)


def envelopes(app: ShopApplication, notifications: Sequence[Notification]) -> list[Envelope]:
    """The integration events for a slice of a context's notification log."""
    mapper = app.mapper_with_metadata
    result = []
    for notification in notifications:
        domain_event, metadata = mapper.decode(notification)
        result.append(envelope_for(app.context, domain_event, notification.id, metadata))
    return result


class Relay:
    def __init__(
        self,
        app: ShopApplication,
        producer_factory: Callable[[], Any],
        checkpoints: RelayCheckpoints,
        watch: TopicWatch,
        *,
        batch_size: int = 500,
        send_timeout: float = 30.0,
        observer: RelayObserver = NO_RELAY_OBSERVER,
    ) -> None:
        self.observer = observer
        self.app = app
        self._producer_factory = producer_factory
        self._producer: Any = None
        self.checkpoints = checkpoints
        self.watch = watch
        self.topic = watch.topic
        self.batch_size = batch_size
        self.send_timeout = send_timeout
        # The checkpoint (published position, messages the topic held then), read once per
        # leadership: only the leading relay moves it, so the database need not be asked
        # before every batch.
        self._checkpoint: tuple[int, int] | None = None
        self._counted_at = 0.0  # when the topic's messages were last counted

    @property
    def context(self) -> str:
        return self.app.context

    def publish_next_batch(self) -> int:
        """Publish what follows the checkpoint, at most one batch; return how many."""
        after, held_before = self._published()
        notifications = self.app.recorder.select_notifications(
            start=after, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0
        # Made on first use, so a relay starts (and waits) while the broker is away; the topic
        # is checked first, so a broker that lost it never auto-creates it with its defaults.
        if self._producer is None:
            self.watch.ensure()
            self._producer = self._producer_factory()
        started = time.perf_counter()
        try:
            # Counted after the batch and compared with the count the checkpoint saved: if the
            # broker lost messages since (an in-memory broker restarted empty, even after
            # acknowledging this batch), the topic holds fewer than it should, and saving that
            # count would hide the loss from the next check.
            futures = [self._send(envelope) for envelope in envelopes(self.app, notifications)]
            self._producer.flush(timeout=self.send_timeout)
            for future in futures:
                future.get(timeout=self.send_timeout)  # raises unless the broker acknowledged
            sent = len(futures) + self._send_watermarks(notifications[-1].id)
            held = self._count()
        except Exception:
            self._drop_clients()  # fresh ones next time: no half-sent state carries over
            raise
        if held < held_before + sent:
            self._topic_lost(held, held_before + sent)
        else:
            self.checkpoints.advance(self.context, notifications[-1].id, held)
            self._checkpoint = (notifications[-1].id, held)
            self.observer.published(self.context, len(notifications), time.perf_counter() - started)
        return len(notifications)

    def _send(self, envelope: Envelope) -> Any:
        """Send one event, its trace context in the headers (ADR 0030)."""
        with publish_span(self.topic, envelope) as headers:
            return self._producer.send(
                self.topic, key=envelope.key, value=envelope.to_json(), headers=headers or None
            )

    def _send_watermarks(self, position: int) -> int:
        """Tell every partition that the log is published up to ``position``; how many sent."""
        partitions = sorted(self._producer.partitions_for(self.topic) or ())
        futures = [
            self._producer.send(
                self.topic, value=b"", partition=p, headers=watermark_header(position)
            )
            for p in partitions
        ]
        self._producer.flush(timeout=self.send_timeout)
        for future in futures:
            future.get(timeout=self.send_timeout)
        return len(futures)

    def _published(self) -> tuple[int, int]:
        if self._checkpoint is None:
            self._checkpoint = (
                self.checkpoints.get(self.context),
                self.checkpoints.messages(self.context),
            )
        return self._checkpoint

    def forget_checkpoint(self) -> None:
        """Read the checkpoint from the database again (another relay may have led)."""
        self._checkpoint = None

    def _count(self) -> int:
        held = self.watch.message_count()
        self._counted_at = time.monotonic()
        return held

    def _republish_if_topic_lost(self) -> None:
        _, published = self._published()
        if published and (held := self._count()) < published:
            self._topic_lost(held, published)

    def _topic_lost(self, held: int, published: int) -> None:
        log.warning(
            "relay %s: %s holds %d messages, %d were published: the topic was recreated or "
            "the broker lost data; publishing the whole log again",
            self.context,
            self.topic,
            held,
            published,
        )
        self.observer.republished(self.context)
        self.checkpoints.reset(self.context)
        self._checkpoint = (0, 0)
        # Fresh clients: the topic is ensured again with our partition count, and no producer
        # state of the broker that is gone (producer id, sequence numbers) carries over.
        self._drop_clients()

    def close(self) -> None:
        """Release the Kafka clients and the event store's connections."""
        self._drop_clients()
        self.app.close()

    def _drop_clients(self) -> None:
        self.watch.close()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            producer.close(timeout=self.send_timeout)

    def catch_up(self, idle_check_seconds: float = 0.0) -> int:
        """Publish everything after the checkpoint; how many. Every batch checks the topic
        it published to; the topic is also checked on its own first (a broker may restart
        empty while the log is quiet), unless it was counted in the last
        ``idle_check_seconds``."""
        if time.monotonic() - self._counted_at >= idle_check_seconds:
            self._republish_if_topic_lost()
        total = 0
        while published := self.publish_next_batch():
            total += published
            if published < self.batch_size:
                break  # the log's end: a commit since then has notified, and wakes us
        return total


def run_relay(relay: Relay, dsn: str, stop: threading.Event, poll_seconds: float = 1.0) -> None:
    """Follow the log until ``stop`` is set: wake on NOTIFY, poll as a fallback.

    One relay per context publishes at a time (a Postgres advisory lock); a second one
    waits as a hot standby. A broker outage only delays publishing: commands never wait.
    """
    lock_key = zlib.crc32(f"shop-relay/{relay.topic}".encode())
    backoff = poll_seconds
    try:
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    relay.observer.leading(relay.context, False)
                    _wait_for_leadership(relay, conn, lock_key, stop, poll_seconds)
                    relay.observer.leading(relay.context, True)
                    _follow(relay, conn, stop, poll_seconds)
            except Exception as e:  # the broker or the database is away: retry, never skip
                relay.observer.failed(relay.context, e)
                log.warning("relay %s: %s; retrying in %.1fs", relay.context, e, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            else:
                backoff = poll_seconds
    finally:
        relay.close()


def _follow(
    relay: Relay, conn: psycopg.Connection[Any], stop: threading.Event, poll_seconds: float
) -> None:
    channel = relay.app.recorder.channel_name  # type: ignore[attr-defined]
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    log.info("relay %s: publishing to %s", relay.context, relay.topic)
    relay.forget_checkpoint()  # leading (again): the last leader may have moved it
    while not stop.is_set():
        if published := relay.catch_up(idle_check_seconds=poll_seconds):
            log.info("relay %s: published %d events", relay.context, published)
        relay.observer.failed(relay.context, None)
        for _ in conn.notifies(timeout=poll_seconds, stop_after=1):
            pass


def _wait_for_leadership(
    relay: Relay,
    conn: psycopg.Connection[Any],
    lock_key: int,
    stop: threading.Event,
    poll_seconds: float,
) -> None:
    while not stop.is_set():
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key,)).fetchone()
        if row and row[0]:
            return
        relay.observer.failed(relay.context, None)  # a standby that reaches the database
        stop.wait(poll_seconds)
