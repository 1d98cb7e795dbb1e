"""The notification consumer as the worker runs it: one e-mail per mailable event.

For each event: skip it if its history row is settled; look up the order (at the event's
version) and the recipient; claim the row; render; send with a deterministic Message-ID,
retrying transient failures with exponential backoff; settle the row. When the attempts of
one batch are used up the claim is released and the batch fails, so the worker retries it
later (with its own growing delay) and never skips an e-mail. Sends are serial: the SMTP
server, not this loop, is the bottleneck for a shop's transactional mail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from uuid import UUID

from opentelemetry.trace import SpanKind
from psycopg import AsyncConnection

from contract.envelope import Envelope
from contract.trace_context import envelope_context, tracer
from notifications import messages
from notifications.directory import Directory
from notifications.history import FAILED, SENT, SKIPPED, NotificationHistory
from notifications.mailer import DeliveryFailed, Mailer, Rejected
from notifications.messages import OrderFacts
from notifications.observers import NO_NOTIFICATION_OBSERVER, NotificationObserver

log = logging.getLogger(__name__)
NOTIFICATIONS = "notifications"


@dataclass(frozen=True)
class Policy:
    sender: str
    attempts: int = 3  # per batch; then the worker retries the batch later
    backoff_seconds: float = 0.5  # doubled after each failed attempt
    lease_seconds: float = 60.0
    max_age: timedelta = timedelta(hours=72)


class Notifier:
    name = NOTIFICATIONS

    def __init__(
        self,
        history: NotificationHistory,
        directory: Callable[[], Directory],
        mailer: Mailer,
        policy: Policy,
        observer: NotificationObserver = NO_NOTIFICATION_OBSERVER,
    ) -> None:
        self.observer = observer
        self.history = history
        self._make_directory = directory
        self._directory: Directory | None = None
        self.mailer = mailer
        self.policy = policy

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            raise RuntimeError("the notifier has not been started")
        return self._directory

    def check(self, envelope: Envelope) -> None:
        messages.check(envelope)

    async def start(self) -> None:
        await self.history.create()
        if self._directory is None:
            self._directory = await asyncio.to_thread(self._make_directory)

    async def apply(self, envelopes: Sequence[Envelope]) -> None:
        mailable = [(e, kind) for e in envelopes if (kind := messages.kind_of(e)) is not None]
        if not mailable:
            return
        async with self.history.connect() as conn:
            for envelope, kind in mailable:
                await self.notify(conn, envelope, kind)

    async def notify(self, conn: AsyncConnection, envelope: Envelope, kind: str) -> None:
        """Mail ``envelope`` (of ``kind``) once, in a span of the event's own trace: the
        worker's batch may hold many, and a checkout's trace ends with its e-mail."""
        with tracer.start_as_current_span(
            f"notify {kind}",
            context=envelope_context(envelope),  # None: the batch's span
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.message.id": envelope.event_id,
                "shop.notification.kind": kind,
            },
        ) as span:
            outcome = await self._notify(conn, envelope, kind)
            span.set_attribute("shop.notification.outcome", outcome)

    async def _notify(self, conn: AsyncConnection, envelope: Envelope, kind: str) -> str:
        """What became of it: sent, failed, skipped (and why), or already settled."""
        event_id = UUID(envelope.event_id)
        if await self.history.settled(conn, event_id):
            return "settled"  # redelivery, replay or restart: mailed (or skipped) already
        order: OrderFacts | None = None
        if envelope.context == "orders":
            order = await asyncio.to_thread(
                self.directory.order, UUID(envelope.aggregate_id), envelope.aggregate_version
            )
            customer = order.customer_id if order else None
        else:
            customer = UUID(envelope.aggregate_id)
        claim = await self.history.claim(conn, envelope, kind, customer, self.policy.lease_seconds)
        if claim is None:
            return "claimed"  # another worker holds it
        occurred = datetime.fromisoformat(envelope.occurred_at)
        if datetime.now(UTC) - occurred > self.policy.max_age:
            return await self._skip(conn, event_id, "too_old")
        if customer is None:
            return await self._skip(conn, event_id, "order_unknown")
        recipient = await asyncio.to_thread(self.directory.recipient, customer)
        if recipient is None:
            return await self._skip(conn, event_id, "no_address")
        email = messages.render(kind, envelope, recipient, order)
        message = messages.compose(
            email, recipient, self.policy.sender, envelope, occurred.timestamp()
        )
        return await self._send(conn, event_id, email.subject, message)

    async def _skip(self, conn: AsyncConnection, event_id: UUID, reason: str) -> str:
        await self.history.settle(conn, event_id, SKIPPED, reason)
        self.observer.notified(SKIPPED, reason)
        return f"{SKIPPED}:{reason}"

    async def _send(
        self, conn: AsyncConnection, event_id: UUID, subject: str, message: EmailMessage
    ) -> str:
        delay = self.policy.backoff_seconds
        for attempt in range(1, self.policy.attempts + 1):
            await self.history.attempting(conn, event_id, subject, str(message["Message-ID"]))
            try:
                await self.mailer.send(message)
            except Rejected as e:
                log.warning("notification %s rejected: %s", event_id, e)
                await self.history.settle(conn, event_id, FAILED, str(e))
                self.observer.notified(FAILED)
                return FAILED
            except DeliveryFailed as e:
                log.info("notification %s: attempt %d failed: %s", event_id, attempt, e)
                self.observer.notified("retried")
                if attempt == self.policy.attempts:
                    await self.history.release(conn, event_id, str(e))
                    raise
                await asyncio.sleep(delay)
                delay *= 2
            else:
                await self.history.settle(conn, event_id, SENT)
                self.observer.notified(SENT)
                return SENT
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def close(self) -> None:
        await self.history.close()
        if self._directory is not None:
            await asyncio.to_thread(self._directory.close)
            self._directory = None
