"""Customer e-mails from the real event store: registering customers, moving their orders,
running the notifier over the log and reading its history from Postgres."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import sql

from commands.identity.application import IdentityApplication
from commands.orders.application import OrdersApplication
from contract.envelope import Envelope
from domain.money import Money
from domain.orders import OrderLine
from infra import read_models
from infra.settings import Settings
from notifications.mailer import Mailer
from notifications.notifier import Notifier
from streams.relay import envelopes
from tests.support.projectors import apply_batches


def register(identity: IdentityApplication, name: str = "Ada") -> tuple[UUID, str]:
    address = f"{name.lower()}-{uuid4().hex[:10]}@example.com"
    user_id = uuid4()
    identity.register(user_id, email=address, display_name=name, password="horse battery 42")
    return user_id, address


def place(orders: OrdersApplication, customer: UUID) -> UUID:
    lines = [OrderLine("HP-1000", 2, Money(1000, "EUR")), OrderLine("MUG-7", 1, Money(550, "EUR"))]
    return orders.place_order(customer, uuid4(), lines, None).id


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
