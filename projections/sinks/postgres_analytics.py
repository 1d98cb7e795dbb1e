"""Postgres sink for the analytics schema: tables, views, and the SQL for the row operations
of ``projections/analytics.py``.

A batch is applied in one transaction. Inserts are ``ON CONFLICT DO NOTHING`` on the row's
key; updates carry ``WHERE version < %s``, so redelivery, replay and a rebuild running beside
the live projector never change a row twice. Every batch first takes ROW EXCLUSIVE locks on
all tables in one fixed order, and a rebuild takes SHARE ROW EXCLUSIVE in the same order: the
two wait for each other and never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql

from contract.envelope import Envelope
from projections import analytics
from projections.analytics import KEYS, Insert, Op, Update
from projections.sinks.postgres import PostgresProjector

ANALYTICS = "analytics"

TABLES: dict[str, str] = {
    "products": """
        product_id uuid PRIMARY KEY, sku text NOT NULL, name text NOT NULL,
        brand text NOT NULL, category text NOT NULL, price_minor bigint NOT NULL,
        currency text NOT NULL, status text NOT NULL, added_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL, version int NOT NULL""",
    "stock_items": """
        stock_item_id uuid PRIMARY KEY, sku text NOT NULL,
        registered_at timestamptz NOT NULL, version int NOT NULL""",
    "inventory_movements": """
        stock_item_id uuid NOT NULL, version int NOT NULL, kind text NOT NULL,
        on_hand_change bigint NOT NULL, reserved_change bigint NOT NULL, order_id uuid NULL,
        reference text NULL, occurred_at timestamptz NOT NULL,
        PRIMARY KEY (stock_item_id, version)""",
    "carts": """
        cart_id uuid PRIMARY KEY, customer_id uuid NOT NULL, opened_at timestamptz NOT NULL,
        checked_out_at timestamptz NULL, lines int NULL, units bigint NULL, version int NOT NULL""",
    "orders": """
        order_id uuid PRIMARY KEY, customer_id uuid NOT NULL, cart_id uuid NOT NULL,
        status text NOT NULL, total_minor bigint NOT NULL, currency text NOT NULL,
        refunded_minor bigint NOT NULL, placed_at timestamptz NOT NULL,
        stock_reserved_at timestamptz NULL, paid_at timestamptz NULL,
        confirmed_at timestamptz NULL, shipped_at timestamptz NULL,
        delivered_at timestamptz NULL, cancelled_at timestamptz NULL,
        updated_at timestamptz NOT NULL, version int NOT NULL""",
    "order_lines": """
        order_id uuid NOT NULL, line_no int NOT NULL, sku text NOT NULL, product_id uuid NOT NULL,
        quantity int NOT NULL, unit_price_minor bigint NOT NULL, currency text NOT NULL,
        placed_at timestamptz NOT NULL, PRIMARY KEY (order_id, line_no)""",
    "order_refunds": """
        order_id uuid NOT NULL, version int NOT NULL, refund_id uuid NOT NULL,
        amount_minor bigint NOT NULL, currency text NOT NULL, refunded_at timestamptz NOT NULL,
        PRIMARY KEY (order_id, version)""",
    "payments": """
        payment_id uuid PRIMARY KEY, order_id uuid NOT NULL, status text NOT NULL,
        amount_minor bigint NOT NULL, currency text NOT NULL, captured_minor bigint NOT NULL,
        refunded_minor bigint NOT NULL, card_brand text NOT NULL,
        created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, version int NOT NULL""",
    "payment_movements": """
        payment_id uuid NOT NULL, version int NOT NULL, kind text NOT NULL,
        amount_minor bigint NULL, currency text NULL, occurred_at timestamptz NOT NULL,
        PRIMARY KEY (payment_id, version)""",
}
assert TABLES.keys() == KEYS.keys()

# Days are UTC days. Views are recomputed on read: always consistent with the tables.
VIEWS: dict[str, str] = {
    "order_line_details": """
        SELECT l.order_id, l.line_no, l.sku, l.product_id, p.name AS product_name,
               coalesce(p.category, 'unknown') AS category, l.quantity, l.unit_price_minor,
               l.quantity * l.unit_price_minor AS line_total_minor, l.currency,
               o.status, o.customer_id, l.placed_at, o.paid_at, o.shipped_at, o.delivered_at,
               o.cancelled_at
          FROM {s}.order_lines l
          JOIN {s}.orders o USING (order_id)
          LEFT JOIN {s}.products p ON p.product_id = l.product_id""",
    # A refund is per order: each line takes its share (line total / order total, rounded
    # down; the last line takes what rounding left, so the shares add up to the refund).
    "order_refund_lines": """
        SELECT order_id, version, refund_id, line_no, sku, product_id, product_name, category,
               currency, refunded_at,
               share + CASE WHEN line_no = max(line_no) OVER refund
                            THEN amount_minor - sum(share) OVER refund ELSE 0 END
                 AS refunded_minor
          FROM (
            SELECT r.order_id, r.version, r.refund_id, r.amount_minor, r.refunded_at,
                   d.line_no, d.sku, d.product_id, d.product_name, d.category, d.currency,
                   floor(r.amount_minor::numeric * d.line_total_minor
                         / nullif(o.total_minor, 0))::bigint AS share
              FROM {s}.order_refunds r
              JOIN {s}.orders o USING (order_id)
              JOIN {s}.order_line_details d USING (order_id)
             WHERE o.status <> 'cancelled'
          ) shares
        WINDOW refund AS (PARTITION BY order_id, version)""",
    # Sales on the day the order was placed, refunds on the day they were paid back.
    "daily_sales": """
        SELECT day, sku, product_name, category, currency,
               count(DISTINCT order_id) FILTER (WHERE kind = 'sale') AS orders,
               coalesce(sum(units) FILTER (WHERE kind = 'sale'), 0) AS units,
               coalesce(sum(amount_minor) FILTER (WHERE kind = 'sale'), 0) AS revenue_minor,
               count(DISTINCT refund_id) FILTER (WHERE kind = 'refund') AS refunds,
               coalesce(sum(amount_minor) FILTER (WHERE kind = 'refund'), 0) AS refunded_minor,
               coalesce(sum(amount_minor) FILTER (WHERE kind = 'sale'), 0)
                 - coalesce(sum(amount_minor) FILTER (WHERE kind = 'refund'), 0)
                 AS net_revenue_minor
          FROM (
            SELECT 'sale' AS kind, (placed_at AT TIME ZONE 'UTC')::date AS day, sku,
                   product_name, category, currency, order_id, NULL::uuid AS refund_id,
                   quantity AS units, line_total_minor AS amount_minor
              FROM {s}.order_line_details WHERE status <> 'cancelled'
            UNION ALL
            SELECT 'refund', (refunded_at AT TIME ZONE 'UTC')::date, sku, product_name,
                   category, currency, order_id, refund_id, 0, refunded_minor
              FROM {s}.order_refund_lines
          ) movements
         GROUP BY 1, 2, 3, 4, 5""",
    "daily_category_sales": """
        SELECT day, category, currency, sum(orders) AS order_lines, sum(units) AS units,
               sum(revenue_minor) AS revenue_minor, sum(refunded_minor) AS refunded_minor,
               sum(net_revenue_minor) AS net_revenue_minor
          FROM {s}.daily_sales GROUP BY 1, 2, 3""",
    "funnel_daily": """
        SELECT day,
               count(*) FILTER (WHERE stage = 'cart_created') AS carts_created,
               count(*) FILTER (WHERE stage = 'cart_checked_out') AS carts_checked_out,
               count(*) FILTER (WHERE stage = 'order_placed') AS orders_placed,
               count(*) FILTER (WHERE stage = 'order_paid') AS orders_paid,
               count(*) FILTER (WHERE stage = 'order_delivered') AS orders_delivered
          FROM (
            SELECT 'cart_created' AS stage, opened_at AS at FROM {s}.carts
            UNION ALL SELECT 'cart_checked_out', checked_out_at FROM {s}.carts
            UNION ALL SELECT 'order_placed', placed_at FROM {s}.orders
            UNION ALL SELECT 'order_paid', paid_at FROM {s}.orders
            UNION ALL SELECT 'order_delivered', delivered_at FROM {s}.orders
          ) stages, LATERAL (SELECT (at AT TIME ZONE 'UTC')::date AS day) d
         WHERE at IS NOT NULL GROUP BY day""",
    "payments_daily": """
        SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, currency,
               coalesce(sum(amount_minor) FILTER (WHERE kind = 'authorized'), 0)
                 AS authorized_minor,
               count(*) FILTER (WHERE kind = 'declined') AS declined,
               coalesce(sum(amount_minor) FILTER (WHERE kind = 'captured'), 0)
                 AS captured_minor,
               coalesce(sum(amount_minor) FILTER (WHERE kind = 'refunded'), 0)
                 AS refunded_minor,
               count(*) FILTER (WHERE kind = 'refunded') AS refunds
          FROM {s}.payment_movements WHERE kind <> 'voided' GROUP BY 1, 2""",
    "inventory_movement_details": """
        SELECT m.stock_item_id, i.sku, m.version, m.kind, m.on_hand_change, m.reserved_change,
               m.order_id, m.reference, m.occurred_at
          FROM {s}.inventory_movements m LEFT JOIN {s}.stock_items i USING (stock_item_id)""",
    "stock_levels": """
        SELECT i.stock_item_id, i.sku, coalesce(sum(m.on_hand_change), 0) AS on_hand,
               coalesce(sum(m.reserved_change), 0) AS reserved,
               coalesce(sum(m.on_hand_change - m.reserved_change), 0) AS available
          FROM {s}.stock_items i
          LEFT JOIN {s}.inventory_movements m USING (stock_item_id)
         GROUP BY i.stock_item_id, i.sku""",
}


def ddl(schema: str) -> list[sql.Composed]:
    """The statements that create the schema, its tables and views (idempotent)."""
    s = sql.Identifier(schema)
    statements: list[sql.Composed] = [
        # One creator at a time: concurrent CREATE ... IF NOT EXISTS can still collide.
        sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Literal(schema)),
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s),
    ]
    for table, columns in TABLES.items():
        statements.append(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                sql.Identifier(schema, table),
                sql.SQL(columns),
            )
        )
    for view, query in VIEWS.items():
        statements.append(
            sql.SQL("CREATE OR REPLACE VIEW {} AS {}").format(
                sql.Identifier(schema, view),
                sql.SQL(query).format(s=s),
            )
        )
    return statements


def create(dsn: str, schema: str) -> None:
    """Create the analytics schema synchronously (``shop provision``)."""
    with psycopg.connect(dsn) as conn, conn.transaction():
        for statement in ddl(schema):
            conn.execute(statement)


class AnalyticsTables:
    def __init__(self, schema: str) -> None:
        self.schema = schema
        # Composed once per shape of operation (table and columns): composing is most of
        # the cost of a small statement.
        self._statements: dict[tuple[Any, ...], bytes] = {}

    def table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    async def create(self, conn: AsyncConnection) -> None:
        async with conn.transaction():
            for statement in ddl(self.schema):
                await conn.execute(statement)

    async def lock(self, conn: AsyncConnection, mode: str) -> None:
        tables = sql.SQL(", ").join(self.table(name) for name in KEYS)
        await conn.execute(sql.SQL("LOCK TABLE {} IN {} MODE").format(tables, sql.SQL(mode)))

    async def apply(self, conn: AsyncConnection, envelopes: Sequence[Envelope]) -> int:
        """Apply a batch inside the caller's transaction; return how many operations."""
        ops = [op for envelope in envelopes for op in analytics.operations(envelope)]
        if not ops:
            return 0
        await self.lock(conn, "ROW EXCLUSIVE")
        # One round trip for the batch: the statements are independent of each other's
        # results, and the first error fails the caller's transaction either way.
        async with conn.pipeline(), conn.cursor() as cursor:
            for op in ops:
                await cursor.execute(self._statement(conn, op), _params(op))
        return len(ops)

    async def clear(self, conn: AsyncConnection) -> None:
        """Empty every table inside the caller's transaction (readers see the old rows until
        it commits); the live projector waits until then."""
        await self.lock(conn, "SHARE ROW EXCLUSIVE")
        for name in KEYS:
            await conn.execute(sql.SQL("DELETE FROM {}").format(self.table(name)))

    def _statement(self, conn: AsyncConnection, op: Op) -> bytes:
        """The statement of ``op``'s shape (its table and columns), composed once: composing
        costs more than sending a small statement."""
        shape = (
            (op.table, tuple(op.row))
            if isinstance(op, Insert)
            else (op.table, tuple(op.set), tuple(op.add))
        )
        statement = self._statements.get(shape)
        if statement is None:
            composed = self._insert(op) if isinstance(op, Insert) else self._update(op)
            statement = self._statements[shape] = composed.as_bytes(conn)
        return statement

    def _insert(self, op: Insert) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO {t} ({columns}) VALUES ({values}) ON CONFLICT ({key}) DO NOTHING"
        ).format(
            t=self.table(op.table),
            columns=sql.SQL(", ").join(map(sql.Identifier, op.row)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(op.row)),
            key=sql.SQL(", ").join(map(sql.Identifier, KEYS[op.table])),
        )

    def _update(self, op: Update) -> sql.Composed:
        sets: list[sql.Composable] = [
            *(sql.SQL("{} = %s").format(sql.Identifier(column)) for column in op.set),
            *(sql.SQL("{c} = {c} + %s").format(c=sql.Identifier(column)) for column in op.add),
        ]
        if _refunds_an_order(op):
            # A refund in full makes the order "refunded", as the Order aggregate does.
            sets.append(
                sql.SQL(
                    "status = CASE WHEN refunded_minor + %s >= total_minor"
                    " THEN 'refunded' ELSE status END"
                )
            )
        sets.append(sql.SQL("version = %s"))
        (key,) = KEYS[op.table]
        return sql.SQL("UPDATE {t} SET {sets} WHERE {key} = %s AND version < %s").format(
            t=self.table(op.table), sets=sql.SQL(", ").join(sets), key=sql.Identifier(key)
        )


def _refunds_an_order(op: Update) -> bool:
    return op.table == "orders" and "refunded_minor" in op.add


def _params(op: Op) -> list[Any]:
    """The values of ``op``'s statement, in its placeholders' order."""
    if isinstance(op, Insert):
        return list(op.row.values())
    refund = [op.add["refunded_minor"]] if _refunds_an_order(op) else []
    return [*op.set.values(), *op.add.values(), *refund, op.version, op.id, op.version]


class AnalyticsProjector(PostgresProjector):
    """The analytics schema as the worker runs it."""

    name = ANALYTICS

    def __init__(self, dsn: str, schema: str) -> None:
        super().__init__(dsn, AnalyticsTables(schema))

    def check(self, envelope: Envelope) -> None:
        analytics.operations(envelope)
