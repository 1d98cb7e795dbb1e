"""Postgres sink for payment history: the SQL for the row operations of ``payment_history``.

Like the order history: a batch is one transaction that locks its payment rows, folds the
envelopes into them with the pure ``payment_history.apply`` and writes with guards (a row
only moves to a higher version, an entry is written once per (payment, version), an
order's customer once). A rebuild takes a stronger table lock, so the two never interleave.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from contract.envelope import Envelope
from projections import payment_history
from projections.payment_history import OrderCustomer, PaymentEntry, PaymentRow
from projections.sinks.postgres import (
    PostgresProjector,
    SchemaTables,
    fold_changed,
    insert_once,
    row_values,
    rows_for_update,
    upsert_newer,
)

PAYMENT_HISTORY = "payment-history"
PAYMENTS = "payments"
ENTRIES = "payment_entries"
CUSTOMERS = "payment_customers"
_PAYMENT_COLUMNS = tuple(PaymentRow.__dataclass_fields__)
_ENTRY_COLUMNS = tuple(PaymentEntry.__dataclass_fields__)


class PaymentHistoryTables(SchemaTables):
    """Payments, their ledger entries, and each order's customer (for ownership checks)."""

    def __init__(self, schema: str) -> None:
        super().__init__(schema, PAYMENTS, ENTRIES, CUSTOMERS)
        self.payments, self.entries, self.customers = self.all

    async def create(self, conn: AsyncConnection) -> None:
        await self.create_all(
            conn,
            [
                (
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " payment_id uuid PRIMARY KEY, order_id uuid NOT NULL, status text NOT NULL,"
                    " amount_minor bigint NOT NULL, currency text NOT NULL,"
                    " captured_minor bigint NOT NULL, refunded_minor bigint NOT NULL,"
                    " card_brand text NOT NULL, last_four text NOT NULL, decline_reason text NULL,"
                    " created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,"
                    " version int NOT NULL)",
                    self.payments,
                ),
                (
                    "CREATE INDEX IF NOT EXISTS payments_by_order ON {} (order_id, created_at)",
                    self.payments,
                ),
                (
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " payment_id uuid NOT NULL, version int NOT NULL, kind text NOT NULL,"
                    " occurred_at timestamptz NOT NULL, amount_minor bigint NULL,"
                    " detail jsonb NOT NULL, PRIMARY KEY (payment_id, version))",
                    self.entries,
                ),
                (
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " order_id uuid PRIMARY KEY, customer_id uuid NOT NULL)",
                    self.customers,
                ),
                (
                    "CREATE INDEX IF NOT EXISTS payment_customers_by_customer ON {} (customer_id)",
                    self.customers,
                ),
            ],
        )

    async def apply(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> None:
        """Apply a batch inside the caller's transaction."""
        await self.lock(conn, "ROW EXCLUSIVE")
        customers: list[OrderCustomer] = []
        pending: dict[UUID, list[Envelope]] = defaultdict(list)
        for envelope in envelopes:
            if envelope.context == "payments":
                pending[UUID(envelope.aggregate_id)].append(envelope)
            else:
                change = payment_history.apply(None, envelope)
                if change is not None and change.customer is not None:
                    customers.append(change.customer)
        stored = await rows_for_update(conn, self.payments, _PAYMENT_COLUMNS, sorted(pending))
        rows, entries = fold_changed(
            pending, {row[0]: PaymentRow(*row) for row in stored}, _payment_step
        )
        async with conn.cursor() as cursor:
            if rows:
                await cursor.executemany(
                    upsert_newer(self.payments, _PAYMENT_COLUMNS), [row_values(r) for r in rows]
                )
            if entries:
                await cursor.executemany(
                    insert_once(self.entries, _ENTRY_COLUMNS),
                    [(*row_values(e)[:-1], Jsonb(e.detail)) for e in entries],
                )
            if customers:
                await cursor.executemany(
                    insert_once(self.customers, ("order_id", "customer_id")),
                    [(c.order_id, c.customer_id) for c in customers],
                )


def _payment_step(
    row: PaymentRow | None, envelope: Envelope
) -> tuple[PaymentRow | None, PaymentEntry | None]:
    change = payment_history.apply(row, envelope)
    if change is None:
        return row, None
    return change.payment or row, change.entry


class PaymentHistoryProjector(PostgresProjector):
    """The payment history read model as the worker runs it."""

    name = PAYMENT_HISTORY

    def __init__(self, dsn: str, schema: str) -> None:
        super().__init__(dsn, PaymentHistoryTables(schema))

    def check(self, envelope: Envelope) -> None:
        payment_history.apply(None, envelope)
