"""Refresh tokens rotate on every use (RFC 9700 §4.14): one row per token, by family.

``refresh_tokens`` in the security schema keeps a SHA-256 of each token's ``jti`` (never the
token), its family (one login) and its fate. Using a token marks it replaced and issues its
successor in the same transaction; using a replaced token again means it leaked, so the
whole family is revoked and the legitimate holder has to log in again. Logout revokes the
family. Rows lock with ``FOR UPDATE``, so two concurrent uses of one token cannot both win.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from security.tokens import Claims, IssuedToken

TABLE = "refresh_tokens"


Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class RefreshRefused(Exception):
    """The refresh token is unknown, expired, revoked, or a replay (family revoked)."""

    def __init__(self, reason: str, family_revoked: UUID | None = None) -> None:
        super().__init__(reason)
        self.family_revoked = family_revoked


@dataclass(frozen=True)
class Rotation:
    user_id: UUID
    family_id: UUID


def _digest(jti: str) -> str:
    return hashlib.sha256(jti.encode()).hexdigest()


class RefreshTokenStore:
    def __init__(self, schema: str, connect: Connect) -> None:
        self._connect = connect  # a connection of this process's pool (the composition root's)
        self.table = sql.Identifier(schema, TABLE)

    def create_table(self, conn: psycopg.Connection[Any]) -> None:
        """Create the table in its (existing) schema, on the caller's connection."""
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " jti_hash text PRIMARY KEY,"
                " family_id uuid NOT NULL,"
                " user_id uuid NOT NULL,"
                " issued_at timestamptz NOT NULL DEFAULT now(),"
                " expires_at timestamptz NOT NULL,"
                " replaced_at timestamptz,"
                " revoked_at timestamptz)"
            ).format(self.table)
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (family_id)").format(
                sql.Identifier(f"{TABLE}_family"), self.table
            )
        )

    def record(self, user_id: UUID, family_id: UUID, token: IssuedToken) -> None:
        """Keep a newly issued token of a new family (a login)."""
        with self._connect() as conn:
            self._insert(conn, user_id, family_id, token)

    def rotate(self, claims: Claims, successor: Callable[[Rotation], IssuedToken]) -> IssuedToken:
        """Spend the token ``claims`` describe and keep its ``successor``, or refuse.

        A replay revokes the family and is committed before the refusal is raised.
        """
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT family_id, user_id, replaced_at, revoked_at, expires_at"
                    " FROM {} WHERE jti_hash = %s FOR UPDATE"
                ).format(self.table),
                (_digest(claims.jti),),
            ).fetchone()
            if row is None:
                raise RefreshRefused("unknown refresh token")
            family_id, user_id, replaced_at, revoked_at, expires_at = row
            if revoked_at is not None:
                raise RefreshRefused("refresh token revoked")
            if replaced_at is not None:
                self._revoke_family(conn, family_id)
                conn.commit()
                raise RefreshRefused("refresh token reused: session revoked", family_id)
            if expires_at <= datetime.now(UTC):
                raise RefreshRefused("refresh token expired")
            conn.execute(
                sql.SQL("UPDATE {} SET replaced_at = now() WHERE jti_hash = %s").format(self.table),
                (_digest(claims.jti),),
            )
            token = successor(Rotation(user_id, family_id))
            self._insert(conn, user_id, family_id, token)
            return token

    def revoke(self, claims: Claims) -> bool:
        """Logout: the family of a token this store issued ends now. False if unknown."""
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL("SELECT family_id FROM {} WHERE jti_hash = %s").format(self.table),
                (_digest(claims.jti),),
            ).fetchone()
            if row is None:
                return False
            self._revoke_family(conn, row[0])
            return True

    def family_revoked(self, family_id: UUID) -> bool:
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT bool_and(revoked_at IS NOT NULL) FROM {} WHERE family_id = %s"
                ).format(self.table),
                (family_id,),
            ).fetchone()
        return bool(row and row[0])

    def _insert(
        self,
        conn: psycopg.Connection[tuple[object, ...]],
        user_id: UUID,
        family_id: UUID,
        token: IssuedToken,
    ) -> None:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (jti_hash, family_id, user_id, expires_at)"
                " VALUES (%s, %s, %s, to_timestamp(%s))"
            ).format(self.table),
            (_digest(token.jti), family_id, user_id, token.expires_at),
        )

    def _revoke_family(self, conn: psycopg.Connection[tuple[object, ...]], family_id: UUID) -> None:
        conn.execute(
            sql.SQL(
                "UPDATE {} SET revoked_at = now() WHERE family_id = %s AND revoked_at IS NULL"
            ).format(self.table),
            (family_id,),
        )
