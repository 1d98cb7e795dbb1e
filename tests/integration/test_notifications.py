"""Customer e-mails through the real SMTP sink of the embedded stack, with the history in the
real Postgres: once per event, retried when the server fails, skipped without an address."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from psycopg import sql
from pydantic import SecretStr

from commands.identity.application import IdentityApplication
from commands.identity.models import RegisterUser
from commands.orders.application import OrdersApplication
from commands.orders.models import PlaceOrder
from contract.envelope import Envelope
from domain.money import Money
from infra import apps, read_models
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from notifications.history import NotificationHistory
from notifications.mailer import DeliveryFailed, SmtpMailer
from notifications.notifier import Notifier
from streams.relay import envelopes
from tests.support.auth import as_customer
from tests.support.mail import body, received
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration


def register(identity: IdentityApplication, name: str = "Ada") -> tuple[UUID, str]:
    address = f"{name.lower()}-{uuid4().hex[:10]}@example.com"
    user_id = uuid4()
    identity.register(
        RegisterUser(email=address, display_name=name, password=SecretStr("horse battery 42")),
        user_id,
    )
    return user_id, address


def place(orders: OrdersApplication, customer: UUID) -> UUID:
    command = {
        "customer_id": str(customer),
        "cart_id": str(uuid4()),
        "lines": [
            {"sku": "HP-1000", "quantity": 2, "unit_price": {"amount": "10.00", "currency": "EUR"}},
            {"sku": "MUG-7", "quantity": 1, "unit_price": {"amount": "5.50", "currency": "EUR"}},
        ],
    }
    return orders.place_order(PlaceOrder.model_validate_json(json.dumps(command)), None).id


def confirm(orders: OrdersApplication, order_id: UUID) -> None:
    orders.mark_stock_reserved(order_id)
    orders.mark_payment_authorized(order_id, uuid4())
    orders.confirm(order_id)


def log_of(*apps_: Any) -> list[Envelope]:
    return [
        e for app in apps_ for e in envelopes(app, app.recorder.select_notifications(1, 100_000))
    ]


def notifier(settings: Settings, **policy: Any) -> Notifier:
    made = read_models.notifier(settings)
    made.policy = replace(made.policy, backoff_seconds=0.05, **policy)
    return made


def run(made: Notifier, *batches: list[Envelope]) -> None:
    async def go() -> None:
        await made.start()
        try:
            for batch in batches:
                await made.apply(batch)
        finally:
            await made.close()

    asyncio.run(go())


def history(settings: Settings) -> dict[str, dict[str, Any]]:
    table = sql.Identifier(settings.schema_for("read"), "notifications")
    with psycopg.connect(settings.database_url) as conn:
        cursor = conn.execute(
            sql.SQL("SELECT event_id, kind, status, detail, attempts, message_id FROM {}").format(
                table
            )
        )
        return {
            str(r[0]): {"kind": r[1], "status": r[2], "detail": r[3], "attempts": r[4], "id": r[5]}
            for r in cursor.fetchall()
        }


def test_each_customer_event_is_mailed_once_even_when_redelivered(
    settings: Settings, identity: IdentityApplication, orders: OrdersApplication
) -> None:
    customer, address = register(identity, "Ada")
    shipped = place(orders, customer)
    confirm(orders, shipped)
    orders.ship(shipped)
    orders.refund(shipped, Money(550, "EUR"), key="r1")
    cancelled = place(orders, customer)
    orders.cancel(cancelled, "out of stock: MUG-7")
    log = log_of(identity, orders)

    run(notifier(settings), log, log[3:], log)  # redelivered and replayed

    mails = received(settings, address)
    subjects = [str(m["Subject"]) for m in mails]
    ref = shipped.hex[:8].upper()
    assert sorted(subjects) == sorted(
        [
            "Welcome to the shop",
            f"Order {ref} confirmed",
            f"Order {ref} is on its way",
            f"Refund of 5.50 EUR for order {ref}",
            f"Order {cancelled.hex[:8].upper()} cancelled",
        ]
    )
    by_subject = {str(m["Subject"]): m for m in mails}
    assert "2 x HP-1000 at 10.00 EUR" in body(by_subject[f"Order {ref} confirmed"])
    assert "Total: 25.50 EUR" in body(by_subject[f"Order {ref} confirmed"])
    assert "Reason: out of stock: MUG-7" in body(
        by_subject[f"Order {cancelled.hex[:8].upper()} cancelled"]
    )
    assert "Refunded so far: 5.50 EUR of 25.50 EUR" in body(
        by_subject[f"Refund of 5.50 EUR for order {ref}"]
    )
    rows = history(settings)
    assert {row["status"] for row in rows.values()} == {"sent"}
    assert sorted(str(m["Message-ID"]) for m in mails) == sorted(
        f"<{event_id}@shop.example>" for event_id in rows
    )
    assert all(row["attempts"] == 1 for row in rows.values())


def test_the_envelope_carries_no_address_but_the_mail_reaches_it(
    settings: Settings, identity: IdentityApplication
) -> None:
    _, address = register(identity, "Grace")
    log = log_of(identity)
    assert address not in json.dumps([e.payload for e in log])

    run(notifier(settings), log)

    assert [str(m["To"]) for m in received(settings, address)] == [address]


def test_a_customer_without_an_address_is_recorded_as_skipped(
    settings: Settings, orders: OrdersApplication
) -> None:
    stranger = uuid4()  # never registered (or erased): identity knows no address
    order = place(orders, stranger)
    confirm(orders, order)

    run(notifier(settings), log_of(orders))

    rows = list(history(settings).values())
    assert [(r["kind"], r["status"], r["detail"], r["attempts"]) for r in rows] == [
        ("order_confirmed", "skipped", "no_address", 0)
    ]


def test_an_erased_customer_is_not_mailed(
    settings: Settings, identity: IdentityApplication
) -> None:
    user_id, address = register(identity, "Erin")
    identity.erase(user_id)

    run(notifier(settings), log_of(identity))

    assert received(settings, address) == []
    rows = list(history(settings).values())
    assert [(r["kind"], r["status"], r["detail"]) for r in rows] == [
        ("welcome", "skipped", "no_address")
    ]


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_transient_smtp_failures_are_retried_and_mailed_once(
    settings: Settings, identity: IdentityApplication, flaky_smtp: tuple[Flaky, str]
) -> None:
    handler, url = flaky_smtp
    register(identity)
    made = notifier(settings, attempts=3)
    made.mailer = SmtpMailer(url)

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
    down = notifier(settings, attempts=2)
    down.mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=2)

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
    made = notifier(settings)
    made.mailer = SmtpMailer(url)

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
    dying = notifier(settings, lease_seconds=0.5)
    dying.mailer = DiesAfterSending(SmtpMailer(settings.smtp_url))
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


def test_the_worker_mails_and_the_read_api_shows_the_history(
    settings: Settings,
    processes: Supervisor,
    identity: IdentityApplication,
    orders: OrdersApplication,
) -> None:
    customer, address = register(identity, "Linus")
    order = place(orders, customer)
    orders.mark_stock_reserved(order)
    orders.cancel(order, "payment declined")
    start(processes, settings, "relay")
    start(processes, settings, "worker")

    mails = eventually(
        lambda: (found := received(settings, address)) and len(found) >= 2 and found,
        timeout=90,
        what="the welcome and the cancellation e-mails",
    )
    assert len(mails) == 2

    with TestClient(apps.read_api(settings)) as client:
        answer = client.get(
            f"/customers/{customer}/notifications", headers=as_customer(settings, customer)
        )
        assert answer.status_code == 200
        items = answer.json()["items"]
        assert [(i["kind"], i["status"]) for i in items] == [
            ("order_cancelled", "sent"),
            ("welcome", "sent"),
        ]
        assert (
            client.get(
                f"/customers/{customer}/notifications?status=failed",
                headers=as_customer(settings, customer),
            ).json()["items"]
            == []
        )
        bad = client.get(
            f"/customers/{customer}/notifications?limit=0", headers=as_customer(settings, customer)
        )
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")


def test_killing_the_worker_mid_stream_loses_no_email_and_duplicates_only_in_the_window(
    settings: Settings, processes: Supervisor, identity: IdentityApplication
) -> None:
    settings = settings.model_copy(update={"notification_lease_seconds": 1.0})
    addresses = [register(identity, f"U{i}")[1] for i in range(60)]
    start(processes, settings, "relay")
    kills = 0
    for _ in range(3):
        start(processes, settings, "worker")
        before = sent_count(settings)

        def progress(before: int = before) -> bool:
            return sent_count(settings) > before

        eventually(progress, timeout=90, what="more e-mails sent")
        if sent_count(settings) == len(addresses):
            break  # it finished before the next kill
        os.kill(processes._child("worker").process.pid, signal.SIGKILL)
        processes.stop("worker")
        kills += 1
    else:
        start(processes, settings, "worker")
    eventually(
        lambda: sent_count(settings) == len(addresses), timeout=120, what="every e-mail sent"
    )

    rows = history(settings)
    mails = [m for a in addresses for m in received(settings, a)]
    per_id: dict[str, int] = {}
    for mail in mails:
        per_id[str(mail["Message-ID"])] = per_id.get(str(mail["Message-ID"]), 0) + 1
    assert sorted(per_id) == sorted(row["id"] for row in rows.values())  # none lost
    duplicated = {mid for mid, n in per_id.items() if n > 1}
    assert len(duplicated) <= kills  # at most one per kill, and only in the SMTP window
    assert all(row["attempts"] > 1 for row in rows.values() if row["id"] in duplicated)
    print(f"{kills} kills, {len(duplicated)} duplicated e-mails, {len(mails)} received")


def sent_count(settings: Settings) -> int:
    return sum(1 for row in history(settings).values() if row["status"] == "sent")
