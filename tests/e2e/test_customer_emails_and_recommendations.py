"""Through HTTP, with the platform's processes: a customer registers and buys, the worker mails
them (read back from the SMTP sink) and the read API shows the history and recommendations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from domain.sku import sku_id
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.auth import as_admin, as_customer
from tests.support.mail import body, received
from tests.support.platform import eventually, start

pytestmark = pytest.mark.e2e


@pytest.fixture
def platform(
    settings: Settings, processes: Supervisor
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    for name in ("command-api", "read-api", "relay", "worker", "saga"):
        start(processes, settings, name)
    # Staff adds products, stock and orders (order lines carry prices); reads sign in per call.
    command = httpx.Client(
        base_url=f"http://{settings.api_host}:{settings.command_api_port}",
        headers=as_admin(settings),
    )
    read = httpx.Client(base_url=f"http://{settings.api_host}:{settings.read_api_port}")
    for name, client in (("command-api", command), ("read-api", read)):

        def ready(client: httpx.Client = client) -> bool:
            return client.get("/readyz").status_code == 200

        processes.wait_healthy(name, ready, 60)
    yield command, read
    command.close()
    read.close()


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def test_a_customer_gets_each_email_once_and_sees_recommendations(
    settings: Settings, platform: tuple[httpx.Client, httpx.Client]
) -> None:
    command, read = platform
    address = f"kim-{uuid4().hex[:10]}@example.com"
    for sku in ("TENT-1", "MAT-1", "STOVE-1"):
        ok(
            command.post(
                "/products",
                json={
                    "sku": sku,
                    "name": f"Camping {sku}",
                    "brand": "Trail",
                    "category": "outdoor",
                    "price": {"amount": "20.00", "currency": "EUR"},
                },
            )
        )
        ok(command.post(f"/stock/{sku}/receipts", json={"quantity": 3}))
    password = "correct horse battery"
    customer = ok(
        command.post("/users", json={"email": address, "display_name": "Kim", "password": password})
    )["id"]
    other = ok(
        command.post(
            "/users",
            json={
                "email": f"o-{uuid4().hex[:8]}@example.com",
                "display_name": "Oz",
                "password": password,
            },
        )
    )["id"]
    as_kim = as_customer(settings, UUID(customer))

    def buy(who: str, *skus: str) -> str:
        """Place an order with a card; the saga reserves, charges and confirms it."""
        lines = [
            {"sku": s, "quantity": 1, "unit_price": {"amount": "20.00", "currency": "EUR"}}
            for s in skus
        ]
        payment = {"payment_token": "tok_approve", "card_brand": "visa", "last_four": "4242"}
        order = ok(
            command.post(
                "/orders",
                json={
                    "customer_id": who,
                    "cart_id": str(uuid4()),
                    "lines": lines,
                    "payment": payment,
                },
            )
        )["id"]
        eventually(
            lambda: (
                read.get(f"/orders/{order}", headers=as_admin(settings)).json().get("status")
                == "confirmed"
            ),
            what=f"order {order} confirmed by the saga",
        )
        return str(order)

    order = buy(customer, "TENT-1")
    ok(command.post(f"/orders/{order}/ship"))
    refund = {"amount": {"amount": "5.00", "currency": "EUR"}}
    ok(
        command.post(
            f"/orders/{order}/refunds", json=refund, headers={"Idempotency-Key": "refund-0001"}
        )
    )
    ok(
        command.post(
            f"/orders/{order}/refunds", json=refund, headers={"Idempotency-Key": "refund-0001"}
        )
    )
    buy(other, "TENT-1", "MAT-1")
    orders = bootstrap.application(settings, "orders")
    last_purchase = orders.recorder.max_notification_id() or 0  # the saga's confirmation
    orders.close()

    mails = eventually(
        lambda: len(found := received(settings, address)) >= 4 and found,
        timeout=120,
        what="welcome, confirmed, shipped and refunded e-mails",
    )
    ref = order.replace("-", "")[:8].upper()
    assert sorted(str(m["Subject"]) for m in mails) == sorted(
        [
            "Welcome to the shop",
            f"Order {ref} confirmed",
            f"Order {ref} is on its way",
            f"Refund of 5.00 EUR for order {ref}",
        ]
    )
    assert "Hello Kim" in body(mails[0])

    history = eventually(
        lambda: (
            len(
                items := ok(read.get(f"/customers/{customer}/notifications", headers=as_kim))[
                    "items"
                ]
            )
            == 4
            and items
        ),
        what="the notification history",
    )
    assert {(i["kind"], i["status"]) for i in history} == {
        ("welcome", "sent"),
        ("order_confirmed", "sent"),
        ("order_shipped", "sent"),
        ("order_refunded", "sent"),
    }

    # Read-your-writes: after the last purchase's position, it counts (or the answer says stale).
    answer = read.get(
        f"/customers/{customer}/recommendations",
        params={"after": last_purchase},
        headers=as_kim,
    )
    assert answer.headers["Shop-Stale"] == "false"
    assert [i["sku"] for i in ok(answer)["items"]] == ["MAT-1"]
    together = ok(read.get(f"/products/{sku_id('TENT-1')}/recommendations"))["items"]
    assert [i["sku"] for i in together] == ["MAT-1"]
    assert len(received(settings, address)) == 4  # and nothing more arrived meanwhile
