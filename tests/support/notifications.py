"""Customer e-mails from the real event store: registering customers, moving their orders,
running the notifier over the log and reading its history from Postgres."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import sql
from pydantic import SecretStr

from commands.identity.application import IdentityApplication
from commands.identity.models import RegisterUser
from commands.orders.application import OrdersApplication
from commands.orders.models import PlaceOrder
from contract.envelope import Envelope
from infra import read_models
from infra.settings import Settings
from notifications.mailer import Mailer
from notifications.notifier import Notifier
from streams.relay import envelopes
from tests.support.projectors import apply_batches


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


def notifier(settings: Settings, mailer: Mailer | None = None, **policy: Any) -> Notifier:
    """The worker's notifier with a 0.05 s backoff and the ``policy`` changes given; it mails
    through ``mailer`` if given, else to the embedded stack's SMTP sink."""
    made = read_models.notifier(settings)
    made.policy = replace(made.policy, backoff_seconds=0.05, **policy)
    if mailer is not None:
        made.mailer = mailer
    return made


def run(made: Notifier, *batches: list[Envelope]) -> None:
    """The notifier over ``batches`` in turn, as the worker runs it."""
    apply_batches(made, *batches)


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
