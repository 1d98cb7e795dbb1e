"""Customer e-mails through the real SMTP sink of the embedded stack, with the history in the
real Postgres: once per event, skipped without an address, sent by the worker and shown by
the read API, none lost when the worker is killed (SMTP failures:
test_notifications_smtp_failures.py)."""

from __future__ import annotations

import json
import os
import signal
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from commands.identity.application import IdentityApplication
from commands.orders.application import OrdersApplication
from domain.money import Money
from infra import apps
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.auth import as_customer
from tests.support.mail import body, received
from tests.support.notifications import confirm, history, log_of, notifier, place, register, run
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration


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
