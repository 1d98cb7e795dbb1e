"""A per-user "not before" (ADR 0033): erasure, role removal and logout end every access
token the user holds at once, on both APIs.

An access token carries when it was issued, to the millisecond (``iat_ms``). Revoking a user
stamps ``now`` as their not-before: any token issued earlier is refused (401
``token_revoked``); one issued later (signing in again) is accepted.

Where the stamp lives:

- **Postgres** (``not_before`` in the security schema) is the durable record, written first.
- **Redis** (``<ns>:nbf:<user>``, expiring when every token issued before it has expired
  anyway) is what requests read: the API gate reads it in the same Lua call that takes the
  rate-limit buckets (``RateLimiter.take_all``), so checking costs no extra round trip.

A revocation writes both before the command runs, so a crash after it loses nothing (the
user at worst signs in again for a command that did not happen); a Redis write that fails
answers 503 and the command is not run. When Redis does not answer a request's check, the
gate asks Postgres instead (cached a second per user in-process). An API process at start
copies the records younger than a token's lifetime into Redis, so a wiped Redis forgets no
revocation after the next restart of either API.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any
from uuid import UUID

import psycopg
from anyio import to_thread  # what FastAPI's run_in_threadpool calls, without FastAPI
from psycopg import sql
from redis import Redis
from redis.exceptions import RedisError

TABLE = "not_before"
CACHE_SECONDS = 1.0

log = logging.getLogger(__name__)

Connect = Callable[[], AbstractContextManager[psycopg.Connection[Any]]]


class RevocationUnavailable(Exception):
    """The not-before could not be written to Redis: nothing was revoked there, retry."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def redis_key(prefix: str, user_id: UUID) -> str:
    return f"{prefix}:nbf:{user_id}"


class NotBeforeRecords:
    """``not_before (user_id, not_before_ms, reason, stamped_at)``: one row per user."""

    def __init__(self, schema: str, connect: Connect) -> None:
        self._connect = connect  # a connection of this process's pool (the composition root's)
        self.table = sql.Identifier(schema, TABLE)

    def create_table(self, conn: psycopg.Connection[Any]) -> None:
        """Create the table in its (existing) schema, on the caller's connection."""
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " user_id uuid PRIMARY KEY,"
                " not_before_ms bigint NOT NULL,"
                " reason text NOT NULL,"
                " stamped_at timestamptz NOT NULL DEFAULT now())"
            ).format(self.table)
        )

    def stamp(self, user_id: UUID, at_ms: int, reason: str) -> int:
        """Raise the user's not-before to ``at_ms`` (never lowers it); the value it holds."""
        with self._connect() as conn:
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO {0} (user_id, not_before_ms, reason) VALUES (%s, %s, %s)"
                    " ON CONFLICT (user_id) DO UPDATE SET"
                    " not_before_ms = GREATEST({0}.not_before_ms, EXCLUDED.not_before_ms),"
                    " reason = EXCLUDED.reason, stamped_at = now()"
                    " RETURNING not_before_ms"
                ).format(self.table),
                (user_id, at_ms, reason),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def of(self, user_id: UUID) -> int | None:
        rows = self._select("SELECT not_before_ms FROM {} WHERE user_id = %s", user_id)
        return int(rows[0][0]) if rows else None

    def since(self, at_ms: int) -> list[tuple[UUID, int]]:
        rows = self._select(
            "SELECT user_id, not_before_ms FROM {} WHERE not_before_ms >= %s", at_ms
        )
        return [(UUID(str(user_id)), int(at)) for user_id, at in rows]

    def _select(self, query: str, value: object) -> list[tuple[Any, ...]]:
        try:
            with self._connect() as conn:
                return conn.execute(sql.SQL(query).format(self.table), (value,)).fetchall()
        except psycopg.errors.UndefinedTable:
            return []  # not provisioned yet: nobody can have been revoked


class NotBefore:
    """Revoke a user's access tokens; the fallback check when Redis does not answer."""

    def __init__(
        self,
        records: NotBeforeRecords,
        redis: Redis | None,
        prefix: str,
        token_seconds: int,
    ) -> None:
        self.records = records
        self.redis = redis  # a synchronous client: revocations run in handler threads
        self.prefix = prefix
        # A stamp matters while a token issued before it can still be valid.
        self.ttl_seconds = token_seconds + 60
        self._cache: dict[UUID, tuple[float, int | None]] = {}

    def key(self, user_id: UUID) -> str:
        return redis_key(self.prefix, user_id)

    def revoke(self, user_id: UUID, reason: str) -> int:
        """Every access token of the user issued until now is refused from now on, by every
        API process. Raises ``RevocationUnavailable`` if Redis cannot take it."""
        at = self.records.stamp(user_id, now_ms(), reason)
        self._cache[user_id] = (time.monotonic(), at)
        if self.redis is not None:
            try:
                self.redis.set(self.key(user_id), at, ex=self.ttl_seconds)
            except RedisError as e:
                raise RevocationUnavailable(str(e)) from e
        return at

    def restore(self) -> int:
        """Copy the records that still matter into Redis (a wiped Redis); how many."""
        if self.redis is None:
            return 0
        try:
            rows = self.records.since(now_ms() - self.ttl_seconds * 1000)
        except psycopg.Error:
            # An API starts while Postgres is away (its /readyz says so); requests fall back
            # on the durable record once it answers, but a wiped Redis keeps no revocation
            # until the next start that reaches it.
            log.warning("not-before records not read from Postgres", exc_info=True)
            return 0
        try:
            for user_id, at in rows:
                self.redis.set(self.key(user_id), at, ex=self.ttl_seconds)
        except RedisError:
            log.warning("not-before records not copied to Redis", exc_info=True)
            return 0
        return len(rows)

    async def revoked_in_database(self, user_id: UUID, issued_at_ms: int) -> bool:
        """The check without Redis: the durable record, cached a second per user."""
        cached = self._cache.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            at = cached[1]
        else:
            at = await to_thread.run_sync(self.records.of, user_id)
            self._cache[user_id] = (time.monotonic(), at)
        return at is not None and issued_at_ms < at
