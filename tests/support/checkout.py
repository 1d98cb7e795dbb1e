"""The whole platform for checkout tests: both APIs, the relay, the worker and the saga as
real processes on one namespace, and helpers that talk to them over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx

from commands.payments.application import PaymentsApplication
from commands.saga.facts import saga_key
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.auth import as_admin
from tests.support.namespaces import provisioned_namespace
from tests.support.platform import eventually, start

FINAL = frozenset({"confirmed", "cancelled"})


@dataclass
class CheckoutStack:
    settings: Settings
    processes: Supervisor
    command: httpx.Client
    read: httpx.Client

    def receive(self, sku: str, units: int) -> None:
        response = self.command.post(
            f"/stock/{sku}/receipts",
            json={"quantity": units},
            headers={"Idempotency-Key": f"receipt-{uuid4()}"},
        )
        assert response.status_code in (200, 201), response.text

    def place(
        self,
        sku: str,
        quantity: int = 1,
        token: str | None = "tok_approve",
        price: str = "25.00",
        customer: UUID | None = None,
    ) -> UUID:
        body: dict[str, Any] = {
            "customer_id": str(customer or uuid4()),
            "cart_id": str(uuid4()),
            "lines": [
                {
                    "sku": sku,
                    "quantity": quantity,
                    "unit_price": {"amount": price, "currency": "EUR"},
                }
            ],
        }
        if token is not None:
            body["payment"] = {"payment_token": token, "card_brand": "visa", "last_four": "4242"}
        response = self.command.post(
            "/orders", json=body, headers={"Idempotency-Key": f"order-{uuid4()}"}
        )
        assert response.status_code == 201, response.text
        return UUID(response.json()["id"])

    def order(self, order_id: UUID) -> dict[str, Any] | None:
        response = self.read.get(f"/orders/{order_id}")
        return response.json() if response.status_code == 200 else None

    def settled(self, order_id: UUID, timeout: float = 60.0, status: str | None = None) -> Any:
        """The order once the saga is done with it (confirmed or cancelled, or ``status``)."""

        def done() -> dict[str, Any] | None:
            order = self.order(order_id)
            wanted = {status} if status else FINAL
            if order and order["status"] in wanted and order["saga"]["step"] != "refunding":
                return order
            return None

        return eventually(done, timeout=timeout, what=f"order {order_id} settles")

    def refunded(self, order_id: UUID, minor: int, timeout: float = 60.0) -> Any:
        """The order once ``minor`` units in all were paid back and nothing is pending."""

        def done() -> dict[str, Any] | None:
            order = self.order(order_id)
            if order and order["refunded"]["minor"] == minor:
                return order if order["saga"]["step"] != "refunding" else None
            return None

        return eventually(done, timeout=timeout, what=f"order {order_id} refunded {minor}")

    def restart_saga(self) -> None:
        self.processes.stop("saga")
        start(self.processes, self.settings, "saga")


@contextmanager
def running_checkout(stack: Settings, logs: Path, **changes: Any) -> Iterator[CheckoutStack]:
    """A fresh namespace with every platform process running; stopped afterwards."""
    settings = provisioned_namespace(stack, **changes)
    host = settings.api_host
    staff = as_admin(settings)
    with (
        Supervisor(logs) as processes,
        # Staff places orders (lines carry prices) and reads any order.
        httpx.Client(
            base_url=f"http://{host}:{settings.command_api_port}", timeout=30, headers=staff
        ) as command,
        httpx.Client(
            base_url=f"http://{host}:{settings.read_api_port}", timeout=30, headers=staff
        ) as read,
    ):
        for name in ("command-api", "read-api", "relay", "worker", "saga"):
            start(processes, settings, name)
        for name, client in (("command-api", command), ("read-api", read)):
            processes.wait_healthy(name, _ready(client), 60)
        yield CheckoutStack(settings, processes, command, read)


def _ready(client: httpx.Client) -> Callable[[], bool]:
    return lambda: client.get("/readyz", timeout=2).status_code == 200


def stock_item(settings: Settings, sku: str) -> Any:
    inventory = bootstrap.application(settings, "inventory")
    try:
        return inventory.get_stock_item(sku)  # type: ignore[attr-defined]
    finally:
        inventory.close()


def saga_payment(settings: Settings, order_id: UUID) -> Any:
    """The payment the saga made for the order, or None."""
    payments = bootstrap.application(settings, "payments")
    assert isinstance(payments, PaymentsApplication)
    try:
        payment_id = payments.payment_id(saga_key(order_id, "authorize"))
        if payment_id not in payments.repository:
            return None
        return payments.repository.get(payment_id)
    finally:
        payments.close()


def sandbox_movements(settings: Settings) -> list[Any]:
    from infra.payments.sandbox_postgres import PostgresSandboxLedger

    schema = settings.schema_for("payments")
    return list(PostgresSandboxLedger(settings.database_url, schema, schema).movements)


def stock_history(settings: Settings, sku: str) -> list[int]:
    """What was available after each event of the SKU's stock item."""
    inventory = bootstrap.application(settings, "inventory")
    try:
        head = inventory.get_stock_item(sku)  # type: ignore[attr-defined]
        return [
            inventory.repository.get(head.id, version=version).available
            for version in range(1, head.version + 1)
        ]
    finally:
        inventory.close()


def payment_tables(settings: Settings) -> tuple[list[Any], list[Any], list[Any]]:
    """Every row of the payment history's three tables, in a stable order."""
    import psycopg
    from psycopg import sql

    schema = settings.schema_for("read")
    with psycopg.connect(settings.database_url) as conn:
        return (
            conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY payment_id").format(
                    sql.Identifier(schema, "payments")
                )
            ).fetchall(),
            conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY payment_id, version").format(
                    sql.Identifier(schema, "payment_entries")
                )
            ).fetchall(),
            conn.execute(
                sql.SQL("SELECT * FROM {} ORDER BY order_id").format(
                    sql.Identifier(schema, "payment_customers")
                )
            ).fetchall(),
        )


def log_heads(settings: Settings, contexts: tuple[str, ...]) -> dict[str, int]:
    """The last position of each context's event log."""
    heads = {}
    for context in contexts:
        app = bootstrap.application(settings, context)
        try:
            heads[context] = app.recorder.max_notification_id() or 0
        finally:
            app.close()
    return heads
