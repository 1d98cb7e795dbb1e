"""Customer e-mails when the SMTP server fails, through real SMTP servers and the history in
the real Postgres: transient failures retried and mailed once, a permanent refusal recorded
as failed, a notification another worker holds left alone, a worker dying after the send."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from commands.identity.application import IdentityApplication
from infra.settings import Settings
from notifications.history import NotificationHistory
from notifications.mailer import DeliveryFailed, SmtpMailer
from tests.conftest import free_port
from tests.support.mail import received
from tests.support.notifications import history, log_of, notifier, register, run

# Split from test_notifications.py, whose tests tests/conftest.py (LONGEST_FIRST) marks slow.
pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Flaky:
    """An SMTP handler that answers 451 to the first ``failures`` messages, then accepts."""

    def __init__(self, failures: int, code: str = "451 4.3.0 try again later") -> None:
        self.failures = failures
        self.code = code
        self.accepted: list[bytes] = []
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refused < self.failures:
            self.refused += 1
            return self.code
        self.accepted.append(envelope.content)
        return "250 OK"


@pytest.fixture
def flaky_smtp() -> Iterator[tuple[Flaky, str]]:
    handler = Flaky(failures=2)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, f"smtp://127.0.0.1:{controller.port}"
    controller.stop()


def test_transient_smtp_failures_are_retried_and_mailed_once(
    settings: Settings, identity: IdentityApplication, flaky_smtp: tuple[Flaky, str]
) -> None:
    handler, url = flaky_smtp
    register(identity)
    made = notifier(settings, SmtpMailer(url), attempts=3)

    run(made, log_of(identity))

    assert handler.refused == 2
    assert len(handler.accepted) == 1
    (row,) = history(settings).values()
    assert (row["status"], row["attempts"]) == ("sent", 3)


def test_an_unreachable_server_fails_the_batch_and_a_later_retry_mails_once(
    settings: Settings, identity: IdentityApplication
) -> None:
    _, address = register(identity)
    log = log_of(identity)
    down = notifier(settings, SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=2), attempts=2)

    with pytest.raises(DeliveryFailed):
        run(down, log)
    (row,) = history(settings).values()
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert received(settings, address) == []

    run(notifier(settings), log)  # the worker retries the batch once the server is back

    assert len(received(settings, address)) == 1
    (row,) = history(settings).values()
    assert (row["status"], row["attempts"]) == ("sent", 3)


def test_a_permanent_refusal_is_recorded_as_failed_and_not_retried(
    settings: Settings, identity: IdentityApplication, flaky_smtp: tuple[Flaky, str]
) -> None:
    handler, url = flaky_smtp
    handler.code = "554 5.6.0 content refused"
    register(identity)
    made = notifier(settings, SmtpMailer(url))

    run(made, log_of(identity), log_of(identity))

    assert (handler.refused, handler.accepted) == (1, [])
    (row,) = history(settings).values()
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "554" in row["detail"]


def test_a_notification_another_worker_holds_is_not_sent_twice(
    settings: Settings, identity: IdentityApplication
) -> None:
    _, address = register(identity)
    log = log_of(identity)
    other = NotificationHistory(settings.database_url, settings.schema_for("read"))

    async def held_elsewhere() -> None:
        await other.create()
        async with other.connect() as conn:
            await other.claim(conn, log[0], "welcome", None, lease_seconds=600)

    asyncio.run(held_elsewhere())

    with pytest.raises(RuntimeError, match="another worker"):
        run(notifier(settings), log)
    assert received(settings, address) == []


class DiesAfterSending:
    """The real SMTP adapter, then the worker dies before it can record the send."""

    def __init__(self, mailer: SmtpMailer) -> None:
        self.mailer = mailer

    async def send(self, message: EmailMessage) -> None:
        await self.mailer.send(message)
        raise SystemExit("killed between SMTP acceptance and recording")


def test_a_worker_dying_after_smtp_accepted_resends_with_the_same_message_id(
    settings: Settings, identity: IdentityApplication
) -> None:
    """The one window ADR 0013 admits: at least once, recognisably the same message."""
    _, address = register(identity)
    log = log_of(identity)
    dying = notifier(settings, DiesAfterSending(SmtpMailer(settings.smtp_url)), lease_seconds=0.5)
    with pytest.raises(SystemExit):
        run(dying, log)
    (row,) = history(settings).values()
    assert (row["status"], row["attempts"]) == ("pending", 1)

    time.sleep(0.6)  # the dead worker's lease runs out
    run(notifier(settings), log)
    run(notifier(settings), log)

    mails = received(settings, address)
    assert len(mails) == 2
    assert mails[0]["Message-ID"] == mails[1]["Message-ID"] == row["id"]
    (row,) = history(settings).values()
    assert (row["status"], row["attempts"]) == ("sent", 2)
