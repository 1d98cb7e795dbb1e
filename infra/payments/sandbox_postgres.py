"""The sandbox processor's ledger in Postgres tables of its own (ADR 0011).

A real processor remembers idempotency keys and authorizations on its side, across every
client process and restart. The sandbox does the same here, so a saga worker killed after
the processor answered and restarted later gets the first answer again and never charges
twice. The tables live in the payments schema under a ``sandbox_`` prefix; the payments
context's own code never reads them (only the gateway adapter does).

One call is one transaction: it takes a transaction-level advisory lock on its key (calls
with the same key wait for each other) and locks the authorization row it changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from commands.payments.gateway import Approved, Declined, GatewayResult
from domain.money import Money
from infra.payments.sandbox import LedgerSession, Movement, SandboxAuthorization

_TABLES = (
    "CREATE TABLE IF NOT EXISTS {answers} ("
    " account text NOT NULL, key text NOT NULL, request text NOT NULL,"
    " approved boolean NOT NULL, detail text NOT NULL, PRIMARY KEY (account, key))",
    "CREATE TABLE IF NOT EXISTS {authorizations} ("
    " account text NOT NULL, reference text NOT NULL, idempotency_key text NOT NULL,"
    " amount_minor bigint NOT NULL, currency text NOT NULL, captured_minor bigint NULL,"
    " refunded_minor bigint NOT NULL DEFAULT 0, voided boolean NOT NULL DEFAULT false,"
    " PRIMARY KEY (account, reference))",
    "CREATE TABLE IF NOT EXISTS {movements} ("
    " id bigserial PRIMARY KEY, account text NOT NULL, kind text NOT NULL,"
    " authorization_ref text NOT NULL, amount_minor bigint NULL, currency text NULL,"
    " idempotency_key text NOT NULL, at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS {flags} ("
    " account text NOT NULL, flag text NOT NULL, PRIMARY KEY (account, flag))",
)


class PostgresSandboxLedger:
    def __init__(self, dsn: str, schema: str, account: str) -> None:
        self.dsn = dsn
        self.account = account
        self.t = {
            name: sql.Identifier(schema, f"sandbox_{name}")
            for name in ("answers", "authorizations", "movements", "flags")
        }

    def create_tables(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn, conn.transaction():
            # Concurrent CREATE TABLE IF NOT EXISTS can still collide: one at a time.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('shop sandbox ledger'))")
            for statement in _TABLES:
                conn.execute(sql.SQL(statement).format(**self.t))

    @contextmanager
    def session(self, key: str) -> Iterator[LedgerSession]:
        with psycopg.connect(self.dsn) as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (f"sandbox/{self.account}/{key}",),
            )
            yield _PostgresSession(self, conn, key)

    def first_time(self, flag: str) -> bool:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (account, flag) VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING RETURNING flag"
                ).format(self.t["flags"]),
                (self.account, flag),
            ).fetchone()
        return row is not None

    @property
    def authorizations(self) -> Mapping[str, SandboxAuthorization]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                sql.SQL("SELECT {} FROM {} WHERE account = %s").format(
                    _AUTH_COLUMNS, self.t["authorizations"]
                ),
                (self.account,),
            ).fetchall()
        return {row[0]: _authorization(row) for row in rows}

    @property
    def movements(self) -> Sequence[Movement]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT kind, authorization_ref, amount_minor, currency, idempotency_key"
                    " FROM {} WHERE account = %s ORDER BY id"
                ).format(self.t["movements"]),
                (self.account,),
            ).fetchall()
        return [
            Movement(kind, ref, None if minor is None else Money(minor, currency), key)
            for kind, ref, minor, currency, key in rows
        ]


_AUTH_COLUMNS = sql.SQL(
    "reference, idempotency_key, amount_minor, currency, captured_minor, refunded_minor, voided"
)


def _authorization(row: tuple[Any, ...]) -> SandboxAuthorization:
    reference, key, minor, currency, captured, refunded, voided = row
    return SandboxAuthorization(
        reference,
        key,
        Money(minor, currency),
        None if captured is None else Money(captured, currency),
        refunded,
        voided,
    )


@dataclass
class _PostgresSession:
    ledger: PostgresSandboxLedger
    conn: psycopg.Connection[Any]
    key: str

    def answer(self) -> tuple[str, GatewayResult] | None:
        row = self.conn.execute(
            sql.SQL(
                "SELECT request, approved, detail FROM {} WHERE account = %s AND key = %s"
            ).format(self.ledger.t["answers"]),
            (self.ledger.account, self.key),
        ).fetchone()
        if row is None:
            return None
        request, approved, detail = row
        return request, Approved(detail) if approved else Declined(detail)

    def keep(self, request: str, answer: GatewayResult) -> None:
        approved = isinstance(answer, Approved)
        detail = answer.reference if isinstance(answer, Approved) else answer.reason
        self.conn.execute(
            sql.SQL(
                "INSERT INTO {} (account, key, request, approved, detail)"
                " VALUES (%s, %s, %s, %s, %s)"
            ).format(self.ledger.t["answers"]),
            (self.ledger.account, self.key, request, approved, detail),
        )

    def authorization(self, reference: str) -> SandboxAuthorization | None:
        row = self.conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE account = %s AND reference = %s FOR UPDATE").format(
                _AUTH_COLUMNS, self.ledger.t["authorizations"]
            ),
            (self.ledger.account, reference),
        ).fetchone()
        return None if row is None else _authorization(row)

    def save(self, held: SandboxAuthorization) -> None:
        self.conn.execute(
            sql.SQL(
                "INSERT INTO {} (account, reference, idempotency_key, amount_minor, currency,"
                " captured_minor, refunded_minor, voided) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (account, reference) DO UPDATE SET"
                " captured_minor = EXCLUDED.captured_minor,"
                " refunded_minor = EXCLUDED.refunded_minor, voided = EXCLUDED.voided"
            ).format(self.ledger.t["authorizations"]),
            (
                self.ledger.account,
                held.reference,
                held.idempotency_key,
                held.amount.minor,
                held.amount.currency,
                None if held.captured is None else held.captured.minor,
                held.refunded_minor,
                held.voided,
            ),
        )

    def moved(self, movement: Movement) -> None:
        amount = movement.amount
        self.conn.execute(
            sql.SQL(
                "INSERT INTO {} (account, kind, authorization_ref, amount_minor, currency,"
                " idempotency_key) VALUES (%s, %s, %s, %s, %s, %s)"
            ).format(self.ledger.t["movements"]),
            (
                self.ledger.account,
                movement.kind,
                movement.authorization,
                None if amount is None else amount.minor,
                None if amount is None else amount.currency,
                movement.idempotency_key,
            ),
        )
