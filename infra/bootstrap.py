"""The composition root: builds applications, clients and schemas from Settings.

Nothing else in the tree knows a host, a port or a credential.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.utils import get_topic
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from commands.base import ShopApplication
from commands.carts.application import CartsApplication
from commands.catalog.application import CatalogApplication
from commands.idempotency import IdempotencyStore
from commands.identity.application import EMAIL_HASH_KEY, IdentityApplication
from commands.inventory.application import InventoryApplication
from commands.observers import NO_SAGA_OBSERVER, SagaObserver
from commands.orders.application import OrdersApplication
from commands.payments.application import PaymentsApplication
from commands.payments.resilience import ResilientGateway
from commands.privacy.cipher import CIPHER_KEY, CIPHER_PREVIOUS_KEYS, RotatingAESGCMCipher
from commands.privacy.personal_data import PostgresPersonalDataKeys
from commands.saga.deadlines import SagaDeadlines
from commands.saga.facts import SagaApplications
from commands.saga.process import OrderSaga
from domain.identity import Role
from infra.audit.chain import EventsTable
from infra.keys import load_keys
from infra.observability.metrics import CommandMetrics
from infra.payments.sandbox import SandboxGateway
from infra.payments.sandbox_postgres import PostgresSandboxLedger
from infra.settings import Settings
from projections.checkpoints import ProjectionCheckpoints
from security.audit import AuditLog
from security.keys import load_key_set
from security.not_before import NotBeforeRecords
from security.refresh import RefreshTokenStore
from security.tokens import TokenService
from streams.catchup import StoreCatchUp
from streams.checkpoints import RelayCheckpoints
from streams.observers import NO_RELAY_OBSERVER, RelayObserver
from streams.relay import Relay
from streams.topics import TopicWatch, ensure_topics

if TYPE_CHECKING:  # Faust is imported by the worker and saga processes only, FastAPI by the APIs
    from fastapi import APIRouter
    from kafka import KafkaProducer

    from streams.saga import SagaConfig
    from streams.worker import WorkerConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoundedContext:
    """What the composition root needs to know of a context: its application and the module
    of its command endpoints (``router(application, read_api_url)`` there).

    The module is named, not imported: only the command API needs FastAPI and the routes, and
    importing them took about half of every CLI command's and worker's start."""

    application: type[ShopApplication]
    endpoints: str

    def router(self, application: ShopApplication, read_api_url: str) -> APIRouter:
        routes: APIRouter = import_module(self.endpoints).router(application, read_api_url)
        return routes


# One line per context.
REGISTRY: dict[str, BoundedContext] = {
    "catalog": BoundedContext(CatalogApplication, "commands.catalog.http"),
    "inventory": BoundedContext(InventoryApplication, "commands.inventory.http"),
    "carts": BoundedContext(CartsApplication, "commands.carts.http"),
    "identity": BoundedContext(IdentityApplication, "commands.identity.http"),
    "orders": BoundedContext(OrdersApplication, "commands.orders.http"),
    "payments": BoundedContext(PaymentsApplication, "commands.payments.http"),
}
CONTEXTS = tuple(REGISTRY)


_POOLS: dict[str, ConnectionPool] = {}
_POOLS_LOCK = threading.Lock()


def postgres(settings: Settings) -> Callable[[], Any]:
    """Lends a connection of this process's pool (one per database, opened on first use).

    Every store outside the event store borrows from it: nothing opens a Postgres connection
    per request, command or batch (a new backend costs milliseconds). The event store keeps a
    pool per context (the eventsourcing library's)."""
    dsn = settings.database_url
    with _POOLS_LOCK:
        pool = _POOLS.get(dsn)
        if pool is None:
            pool = ConnectionPool(
                dsn, min_size=1, max_size=settings.postgres_pool_size, open=False, timeout=10
            )
            pool.open()
            atexit.register(pool.close)
            _POOLS[dsn] = pool
    return pool.connection


def event_store_env(
    settings: Settings, context: str, *, create_tables: bool = False
) -> dict[str, str]:
    """The eventsourcing library's settings for one context: its own schema and table,
    every event and snapshot encrypted with AES-256-GCM (ADR 0021).

    Only `shop provision` creates tables: the library's DDL (CREATE OR REPLACE FUNCTION…) run
    by several processes starting at once fails with "tuple concurrently updated"."""
    info = conninfo_to_dict(settings.database_url)
    keys = load_keys(settings)
    env = {
        "CIPHER_TOPIC": get_topic(RotatingAESGCMCipher),
        CIPHER_KEY: keys.event_key,
        CIPHER_PREVIOUS_KEYS: keys.event_previous_keys,
        EMAIL_HASH_KEY: keys.email_hash_key,
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname", "shop")),
        "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(info.get("port", "5432")),
        "POSTGRES_USER": str(info.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(info.get("password", "")),
        "POSTGRES_SCHEMA": settings.schema_for(context),
        # One connection kept open per context, up to twelve under load: each opened
        # backend costs Postgres a fork and a cold catalog cache, paid again by every
        # process and (in the tests) every namespace.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": "11",
        "POSTGRES_LOCK_TIMEOUT": "5",
        "CREATE_TABLE": "y" if create_tables else "n",
    }
    if settings.aggregate_cache_size and context != "identity":
        # Recently used aggregates stay in memory and are brought up to date with one read of
        # their newer events (no snapshot read and decryption per command); handed out as
        # copies. Not users: their personal data stays out of long-lived memory. (The
        # library reads 0 as "unbounded", hence no entry at all for "none".)
        env["AGGREGATE_CACHE_MAXSIZE"] = str(settings.aggregate_cache_size)
    return env


_COMMAND_METRICS = CommandMetrics()


def application(
    settings: Settings, context: str, *, create_tables: bool = False
) -> ShopApplication:
    env = event_store_env(settings, context, create_tables=create_tables)
    idempotency, keys = idempotency_store(settings, context), personal_data_keys(settings)
    app: ShopApplication
    if context == "payments":  # the one context given an adapter of its own
        gateway = payment_gateway(settings, create_tables=create_tables)
        app = PaymentsApplication(env, idempotency, keys, gateway=gateway)
    else:
        app = REGISTRY[context].application(env, idempotency, keys)
    app.observer = _COMMAND_METRICS  # appends and repeats counted (ADR 0029)
    return app


def payment_gateway(settings: Settings, *, create_tables: bool = False) -> ResilientGateway:
    """The sandbox processor behind deadlines and a circuit breaker (ADR 0011). Its ledger is
    kept in tables of its own in the payments schema, so keys outlive this process."""
    schema = settings.schema_for("payments")
    ledger = PostgresSandboxLedger(settings.database_url, schema, schema)
    if create_tables:
        ledger.create_tables()  # like the events table: only when provisioning
    return ResilientGateway(
        SandboxGateway.configured(settings, schema, ledger),
        timeout_seconds=settings.payments_gateway_timeout_seconds,
        failures=settings.payments_gateway_breaker_failures,
        reset_seconds=settings.payments_gateway_breaker_reset_seconds,
    )


def personal_data_keys(settings: Settings) -> PostgresPersonalDataKeys:
    """Per-user keys in their own schema, apart from every events table (ADR 0022)."""
    return PostgresPersonalDataKeys(
        settings.database_url,
        settings.schema_for("keys"),
        load_keys(settings).master_ring(),
        postgres(settings),  # this process's pool: no pool (and backends) per application
    )


def events_table(app: ShopApplication) -> EventsTable:
    """Where a context's application stores its events (the eventsourcing Postgres recorder)."""
    recorder: Any = app.recorder
    return EventsTable(recorder.datastore.schema, recorder.events_table_name)


def idempotency_store(settings: Settings, context: str) -> IdempotencyStore:
    return IdempotencyStore(settings.schema_for(context), _COMMAND_METRICS)


def catalog(settings: Settings) -> CatalogApplication:
    app = application(settings, "catalog")
    assert isinstance(app, CatalogApplication)
    return app


def _pooled_store(settings: Settings, schema: str) -> tuple[str, Callable[[], Any]]:
    """What a store of ours takes: its schema and this process's pool."""
    return settings.schema_for(schema), postgres(settings)


def relay_checkpoints(settings: Settings) -> RelayCheckpoints:
    return RelayCheckpoints(*_pooled_store(settings, "streams"))


def projection_checkpoints(settings: Settings) -> ProjectionCheckpoints:
    return ProjectionCheckpoints(settings.database_url, *_pooled_store(settings, "projections"))


def token_service(settings: Settings) -> TokenService:
    """Signs and verifies tokens with the keys in ``auth_keys_dir`` (ADR 0018)."""
    keys = load_key_set(keys_dir(settings), settings.auth_signing_key_id)
    return TokenService(
        keys,
        settings.auth_issuer,
        settings.auth_audience,
        settings.access_token_seconds,
        settings.refresh_token_seconds,
    )


def keys_dir(settings: Settings) -> Path:
    """The key directory; unset, the embedded stack's development keys under the data dir."""
    return Path(settings.auth_keys_dir) if settings.auth_keys_dir else settings.data_dir / "keys"


# The id operator tools sign in as (demo loader, `shop token` without --user).
OPERATOR_ID = uuid5(NAMESPACE_URL, "urn:shop:operator")


def operator_token(settings: Settings, *roles: Role) -> str:
    """A short-lived access token for an operator tool, signed with the configured key."""
    return token_service(settings).access_token(OPERATOR_ID, frozenset(roles)).token


def refresh_tokens(settings: Settings) -> RefreshTokenStore:
    return RefreshTokenStore(*_pooled_store(settings, "security"))


def not_before_records(settings: Settings) -> NotBeforeRecords:
    return NotBeforeRecords(*_pooled_store(settings, "security"))


def audit_log(settings: Settings) -> AuditLog:
    return AuditLog(*_pooled_store(settings, "security"))


def kafka_producer(settings: Settings) -> KafkaProducer:
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap.split(","),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        retries=5,
        request_timeout_ms=10_000,
        max_block_ms=10_000,
    )


def relay(settings: Settings, context: str, observer: RelayObserver = NO_RELAY_OBSERVER) -> Relay:
    # Provisioned tables only: it starts beside the command API, which may be creating them.
    return Relay(
        application(settings, context, create_tables=False),
        lambda: kafka_producer(settings),
        relay_checkpoints(settings),
        TopicWatch(
            settings.kafka_bootstrap.split(","),
            settings.topic(context),
            settings.kafka_partitions,
            settings.kafka_replication_factor,
        ),
        batch_size=settings.relay_batch_size,
        observer=observer,
    )


def faust_broker(settings: Settings) -> str:
    """Faust's broker URLs, through our transport with a short fetch wait (see
    ``streams.kafka_transport``)."""
    return "shopkafka://" + settings.kafka_bootstrap.replace(",", ";shopkafka://")


def worker_config(settings: Settings) -> WorkerConfig:
    from streams.worker import WorkerConfig

    return WorkerConfig(
        app_id=f"{settings.namespace}-projectors",
        broker=faust_broker(settings),
        topics={context: settings.topic(context) for context in CONTEXTS},
        dead_letter_topic=settings.dead_letter_topic,
        datadir=str(settings.data_dir.resolve() / "faust" / settings.namespace),
        session_timeout=settings.kafka_session_timeout_seconds,
        partitions=settings.kafka_partitions,
        batch_size=settings.stream_batch_size,
        batch_seconds=settings.stream_flush_seconds,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )


def store_catch_up(settings: Settings, context: str) -> StoreCatchUp:
    """What a projector reads when Kafka no longer holds the events it needs."""
    return StoreCatchUp(
        lambda: application(settings, context, create_tables=False), settings.kafka_partitions
    )


def saga_config(settings: Settings) -> SagaConfig:
    from streams.saga import SagaConfig

    return SagaConfig(
        app_id=f"{settings.namespace}-saga",
        broker=faust_broker(settings),
        topics={context: settings.topic(context) for context in ("orders", "inventory", "carts")},
        datadir=str(settings.data_dir.resolve() / "faust" / f"{settings.namespace}-saga"),
        session_timeout=settings.kafka_session_timeout_seconds,
        timer_seconds=settings.saga_timer_seconds,
        batch_seconds=settings.stream_flush_seconds,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
    )


def saga_deadlines(settings: Settings) -> SagaDeadlines:
    return SagaDeadlines(*_pooled_store(settings, "saga"))


def order_saga(settings: Settings, observer: SagaObserver = NO_SAGA_OBSERVER) -> OrderSaga:
    orders, inventory, payments = (
        application(settings, context) for context in ("orders", "inventory", "payments")
    )
    assert isinstance(orders, OrdersApplication)
    assert isinstance(inventory, InventoryApplication)
    assert isinstance(payments, PaymentsApplication)
    return OrderSaga(
        SagaApplications(orders, inventory, payments, catalog(settings)),
        saga_deadlines(settings),
        payment_timeout=timedelta(seconds=settings.saga_payment_timeout_seconds),
        gateway_attempts=settings.saga_gateway_attempts,
        retry_seconds=settings.saga_retry_seconds,
        observer=observer,
    )


def create_topics(settings: Settings, names: list[str]) -> None:
    """Create the missing topics with our partition count (never the broker's default)."""
    ensure_topics(
        settings.kafka_bootstrap.split(","),
        names,
        settings.kafka_partitions,
        settings.kafka_replication_factor,
    )
