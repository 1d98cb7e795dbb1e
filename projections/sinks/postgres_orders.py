"""Postgres sink for order history: the SQL for the row operations of ``order_history``.

A batch is applied in one transaction: lock the batch's order rows, fold the envelopes
into them with the pure ``order_history.apply``, then write. The writes are guarded in
SQL as well: an order row only moves to a higher version, a timeline entry is written
once per (order, version). Redelivery, replay and a rebuild running beside the live
projector therefore change nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from contract.envelope import Envelope
from projections import order_history
from projections.order_history import OrderRow, TimelineRow
from projections.sinks.postgres import (
    PostgresProjector,
    SchemaTables,
    fold_changed,
    insert_once,
    row_values,
    rows_for_update,
    upsert_newer,
)

ORDER_HISTORY = "order-history"
ORDERS = "orders"
TIMELINE = "order_timeline"
_ORDER_COLUMNS = tuple(OrderRow.__dataclass_fields__)
_TIMELINE_COLUMNS = tuple(TimelineRow.__dataclass_fields__)


class OrderHistoryTables(SchemaTables):
    """The read model's two tables in one schema, and the statements over them."""

    def __init__(self, schema: str) -> None:
        super().__init__(schema, ORDERS, TIMELINE)
        self.orders, self.timeline = self.all

    async def create(self, conn: AsyncConnection) -> None:
        """Create the schema, tables and index unless they exist."""
        await self.create_all(
            conn,
            [
                (
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " order_id uuid PRIMARY KEY,"
                    " customer_id uuid NOT NULL,"
                    " status text NOT NULL,"
                    " total_minor bigint NOT NULL,"
                    " currency text NOT NULL,"
                    " refunded_minor bigint NOT NULL,"
                    " placed_at timestamptz NOT NULL,"
                    " updated_at timestamptz NOT NULL,"
                    " version int NOT NULL)",
                    self.orders,
                ),
                # The saga's progress came later: tables made before get its columns too.
                (
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS saga_step text NOT NULL"
                    " DEFAULT 'reserving_stock',"
                    " ADD COLUMN IF NOT EXISTS saga_reason text NULL,"
                    " ADD COLUMN IF NOT EXISTS has_payment_method boolean NOT NULL DEFAULT false,"
                    " ADD COLUMN IF NOT EXISTS pending_refunds int NOT NULL DEFAULT 0",
                    self.orders,
                ),
                # A customer's history, newest first, by keyset on (placed_at, order_id).
                (
                    "CREATE INDEX IF NOT EXISTS orders_by_customer"
                    " ON {} (customer_id, placed_at DESC, order_id DESC)",
                    self.orders,
                ),
                (
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " order_id uuid NOT NULL,"
                    " version int NOT NULL,"
                    " status text NOT NULL,"
                    " occurred_at timestamptz NOT NULL,"
                    " amount_minor bigint NULL,"
                    " detail jsonb NOT NULL,"
                    " PRIMARY KEY (order_id, version))",
                    self.timeline,
                ),
            ],
        )

    async def apply(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> int:
        """Apply a batch inside the caller's transaction; return how many rows were written."""
        pending: dict[UUID, list[Envelope]] = defaultdict(list)
        for envelope in envelopes:
            if envelope.context == order_history.CONTEXT:
                pending[UUID(envelope.aggregate_id)].append(envelope)
        if not pending:
            return 0
        await self.lock(conn, "ROW EXCLUSIVE")
        rows = await rows_for_update(conn, self.orders, _ORDER_COLUMNS, sorted(pending))
        orders, timeline = fold_changed(
            pending, {row[0]: OrderRow(*row) for row in rows}, _order_step
        )
        return await self._write(conn, orders, timeline)

    async def _write(
        self, conn: AsyncConnection, orders: list[OrderRow], timeline: list[TimelineRow]
    ) -> int:
        written = 0
        async with conn.cursor() as cursor:
            if orders:
                await cursor.executemany(
                    upsert_newer(self.orders, _ORDER_COLUMNS), [row_values(o) for o in orders]
                )
                written += len(orders)
            if timeline:
                await cursor.executemany(
                    insert_once(self.timeline, _TIMELINE_COLUMNS),
                    [(*row_values(t)[:-1], Jsonb(t.detail)) for t in timeline],
                )
                written += len(timeline)
        return written


def _order_step(
    row: OrderRow | None, envelope: Envelope
) -> tuple[OrderRow | None, TimelineRow | None]:
    change = order_history.apply(row, envelope)
    if change is None:
        return row, None
    return change.order or row, change.timeline


class OrderHistoryProjector(PostgresProjector):
    """The order history read model as the worker runs it."""

    name = ORDER_HISTORY

    def __init__(self, dsn: str, schema: str) -> None:
        super().__init__(dsn, OrderHistoryTables(schema))

    def check(self, envelope: Envelope) -> None:
        order_history.apply(None, envelope)
