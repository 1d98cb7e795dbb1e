"""Every read model, described once (ADR 0039).

``provision``, the worker, ``shop projections rebuild``, the status view, the pipeline
metrics and the read API's routers all read this table. A new read model touches its own
modules (its pure fold in ``projections/``, its sink in ``projections/sinks/``, a read
router if it is queried) and adds one entry here; README "Adding a read model".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from elasticsearch import AsyncElasticsearch
from psycopg import AsyncConnection
from redis.asyncio import Redis

from commands.identity.application import IdentityApplication
from commands.orders.application import OrdersApplication
from infra import bootstrap
from infra.directory import EventStoreDirectory
from infra.observability.metrics import NotificationMetrics
from infra.rebuild import Logs, Rebuild, Rebuilt
from infra.rebuild.postgres import RefillInOneTransaction
from infra.rebuild.redis import PauseAndReplay, ReplaceInPlace
from infra.rebuild.search import SwapIndexBehindAlias
from infra.settings import Settings
from notifications.history import NotificationHistory
from notifications.mailer import SmtpMailer
from notifications.notifier import NOTIFICATIONS, Notifier, Policy
from projections import analytics, carts, payment_history, product_search
from projections.projector import Projector, ProjectorSpec
from projections.sinks import postgres_analytics
from projections.sinks.postgres_analytics import ANALYTICS, AnalyticsProjector, AnalyticsTables
from projections.sinks.postgres_orders import (
    ORDER_HISTORY,
    OrderHistoryProjector,
    OrderHistoryTables,
)
from projections.sinks.postgres_payments import (
    PAYMENT_HISTORY,
    PaymentHistoryProjector,
    PaymentHistoryTables,
)
from projections.sinks.product_index import PRODUCT_SEARCH, ProductSearchProjector
from projections.sinks.redis_carts import CARTS, CartsProjector, CartStore
from projections.sinks.redis_recommendations import (
    RECOMMENDATIONS,
    RecommendationsProjector,
    RecommendationStore,
)
from read_api.consistency import AppliedPosition

if TYPE_CHECKING:  # FastAPI and the routers: imported by the read API only (see _routes)
    from fastapi import APIRouter


@dataclass(frozen=True)
class ReadSide:
    """What the read API lends its routers: one pool, one Redis, one search client."""

    settings: Settings
    connect: Callable[[], AbstractAsyncContextManager[AsyncConnection[Any]]]
    redis: Redis
    es: AsyncElasticsearch
    applied: Callable[[str, str], AppliedPosition]


@dataclass(frozen=True)
class ReadModel:
    """A read model: its name (checkpoints, metrics, status, `shop projections rebuild`),
    the contexts it follows and how to build, rebuild, provision and query it."""

    name: str
    contexts: tuple[str, ...]
    projector: Callable[[Settings], Projector]
    # None: it keeps effects, not state (e-mails are never sent again by a replay).
    rebuild: Rebuild | None = None
    # What `shop provision` creates before any event arrives (else the projector's start).
    provision: Callable[[Settings], None] | None = None
    router: Callable[[ReadSide], APIRouter] | None = None
    # The name `shop projections rebuild` takes, where it differs.
    alias: str | None = None

    @property
    def command_name(self) -> str:
        return self.alias or self.name


def notifier(settings: Settings) -> Notifier:
    """The notification consumer: history in Postgres, recipients from identity, SMTP out."""

    def directory() -> EventStoreDirectory:
        identity = bootstrap.application(settings, "identity")
        orders = bootstrap.application(settings, "orders")
        assert isinstance(identity, IdentityApplication)
        assert isinstance(orders, OrdersApplication)
        return EventStoreDirectory(identity, orders)

    return Notifier(
        notification_history(settings),
        directory,
        SmtpMailer(settings.smtp_url),
        Policy(
            sender=settings.mail_from,
            attempts=settings.notification_attempts,
            lease_seconds=settings.notification_lease_seconds,
            max_age=timedelta(hours=settings.notification_max_age_hours),
        ),
        NotificationMetrics(),
    )


def notification_history(settings: Settings) -> NotificationHistory:
    return NotificationHistory(settings.database_url, settings.schema_for("read"))


def async_elasticsearch(settings: Settings) -> AsyncElasticsearch:
    return AsyncElasticsearch(settings.elasticsearch_url, request_timeout=10)


def _redis(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_url)


def _product_index_present(settings: Settings) -> None:
    """A missing search index is rebuilt from the event store, not left empty."""

    async def ensure() -> None:
        es = async_elasticsearch(settings)
        try:
            present = await es.indices.exists_alias(name=settings.products_alias)
        finally:
            await es.close()
        if not present:
            await rebuild(settings, PRODUCT_SEARCH)

    asyncio.run(ensure())


def _read(settings: Settings) -> str:
    return settings.schema_for("read")


def _carts_routes(r: ReadSide) -> APIRouter:
    from read_api import carts as api

    return api.router(r.redis, r.settings.namespace, r.applied(CARTS, "carts"))


def _order_history_routes(r: ReadSide) -> APIRouter:
    from read_api import orders as api

    return api.router(r.connect, _read(r.settings), r.applied(ORDER_HISTORY, "orders"))


def _payment_history_routes(r: ReadSide) -> APIRouter:
    from read_api import payments as api

    return api.router(r.connect, _read(r.settings), r.applied(PAYMENT_HISTORY, "payments"))


def _analytics_routes(r: ReadSide) -> APIRouter:
    from read_api import analytics as api

    return api.router(r.connect, r.settings.schema_for("analytics"))


def _recommendations_routes(r: ReadSide) -> APIRouter:
    from read_api import recommendations as api

    store = RecommendationStore(r.redis, r.settings.namespace)
    return api.router(store, r.es, r.settings.products_alias, r.applied(RECOMMENDATIONS, "orders"))


def _notifications_routes(r: ReadSide) -> APIRouter:
    from read_api import notifications as api

    return api.router(r.connect, _read(r.settings))


# Each router is imported where it is built: the worker, the CLI and `shop provision` read
# this table too, and FastAPI with the routes was about half of their start.
READ_MODELS = (
    ReadModel(
        PRODUCT_SEARCH,
        product_search.SOURCES,
        lambda s: ProductSearchProjector(async_elasticsearch(s), s.products_alias),
        SwapIndexBehindAlias(async_elasticsearch),
        provision=_product_index_present,
        alias="products",  # its router is the read API's own (read_api.app)
    ),
    ReadModel(
        CARTS,
        ("carts",),
        lambda s: CartsProjector(_redis(s), s.namespace),
        ReplaceInPlace(CartStore, carts.apply),
        router=_carts_routes,
    ),
    ReadModel(
        ORDER_HISTORY,
        ("orders",),
        lambda s: OrderHistoryProjector(s.database_url, _read(s)),
        RefillInOneTransaction(lambda s: OrderHistoryTables(_read(s))),
        router=_order_history_routes,
    ),
    ReadModel(
        PAYMENT_HISTORY,
        payment_history.CONTEXTS,
        lambda s: PaymentHistoryProjector(s.database_url, _read(s)),
        RefillInOneTransaction(lambda s: PaymentHistoryTables(_read(s))),
        router=_payment_history_routes,
    ),
    ReadModel(
        ANALYTICS,
        analytics.CONTEXTS,
        lambda s: AnalyticsProjector(s.database_url, s.schema_for("analytics")),
        RefillInOneTransaction(lambda s: AnalyticsTables(s.schema_for("analytics"))),
        # Analysts query the schema before the first event: created by provision.
        provision=lambda s: postgres_analytics.create(s.database_url, s.schema_for("analytics")),
        router=_analytics_routes,
    ),
    ReadModel(
        RECOMMENDATIONS,
        ("orders",),
        lambda s: RecommendationsProjector(_redis(s), s.namespace),
        PauseAndReplay(RecommendationStore),
        router=_recommendations_routes,
    ),
    ReadModel(
        NOTIFICATIONS,
        ("identity", "orders"),
        notifier,
        provision=lambda s: asyncio.run(notification_history(s).create()),
        router=_notifications_routes,
    ),
)
BY_NAME = {model.name: model for model in READ_MODELS}
REBUILDABLE = {m.command_name: m for m in READ_MODELS if m.rebuild is not None}


def projectors(settings: Settings) -> list[ProjectorSpec]:
    """What the worker runs: every read model, each built in the worker process."""
    return [ProjectorSpec(m.name, m.contexts, partial(m.projector, settings)) for m in READ_MODELS]


def followed() -> list[tuple[str, str]]:
    """Every (read model, context) the worker keeps."""
    return [(m.name, context) for m in READ_MODELS for context in m.contexts]


async def rebuild(settings: Settings, name: str) -> Rebuilt:
    """Rebuild one read model of ``settings``'s namespace from the event store."""
    model = BY_NAME[name]
    assert model.rebuild is not None, f"{name} is not rebuilt from the log"
    logs = Logs(lambda context: bootstrap.application(settings, context))
    try:
        return await model.rebuild(settings, logs, model.contexts, model.command_name)
    finally:
        logs.close()
