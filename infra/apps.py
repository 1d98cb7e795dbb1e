"""ASGI factories for uvicorn: each API built from Settings by the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from psycopg_pool import AsyncConnectionPool
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from commands.carts.application import CartsApplication
from commands.catalog.application import CatalogApplication
from commands.http.app import create_command_api
from commands.identity import sessions
from commands.identity.application import IdentityApplication
from contract.asyncapi import asyncapi_document
from infra import bootstrap
from infra.docs import install_docs
from infra.http import (
    BodySizeLimit,
    CardDataRefusal,
    RequestTimeout,
    install_problem_handlers,
)
from infra.log_safety import redact_access_log
from infra.observability.http_metrics import HttpMetrics, metrics_endpoint
from infra.observability.logs import configure_logging
from infra.observability.readiness import Missing, first_missing
from infra.observability.tracing import TraceRequests, configure_tracing
from infra.read_models import READ_MODELS, ReadSide, async_elasticsearch
from infra.settings import Settings
from infra.status import projection_status
from projections.sinks.product_index import PRODUCT_SEARCH
from read_api import audit as audit_api
from read_api.answers import RecentAnswers
from read_api.app import create_read_api
from read_api.positions import AppliedPositions
from security import jwks
from security.access import Access
from security.not_before import NotBefore
from security.ratelimit import Limit, RateLimiter


def read_api_location(settings: Settings) -> str:
    """The read API's base URL for Location headers: the public one when it is set (behind a
    gateway, in a cluster), else where the read API listens on this machine."""
    if settings.read_api_public_url:
        return settings.read_api_public_url.rstrip("/")
    return f"http://{settings.api_host}:{settings.read_api_port}"


def command_api(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # In each uvicorn worker process too (idempotent): they start without our set-up.
    configure_tracing("command-api")
    if settings.log_format == "json":
        configure_logging("command-api", "json")
    applications = {name: bootstrap.application(settings, name) for name in bootstrap.CONTEXTS}
    connect = bootstrap.postgres(settings)

    def database_answers() -> None:
        try:
            with connect() as conn:
                conn.execute("SELECT 1")
        except Exception as e:
            raise Missing("postgres", e) from None

    redis = _redis(settings)
    access = _access(settings, redis)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await _restore_not_before(access)
        yield
        for application in applications.values():
            application.close()
        await redis.aclose()
        _close_not_before(access)

    read_api_url = read_api_location(settings)
    routers = [
        bootstrap.REGISTRY[name].router(application, read_api_url)
        for name, application in applications.items()
    ]
    identity = applications["identity"]
    assert isinstance(identity, IdentityApplication)
    carts, catalog = applications["carts"], applications["catalog"]
    assert isinstance(carts, CartsApplication)
    assert isinstance(catalog, CatalogApplication)
    carts.catalog = catalog  # a cart takes only SKUs on sale (ADR 0034)
    signing_in = sessions.Sessions(
        identity,
        access.tokens,
        bootstrap.refresh_tokens(settings),
        access.limiter,
        Limit(settings.login_rate_per_minute / 60, settings.login_burst),
    )
    routers.append(sessions.router(signing_in))
    routers.append(jwks.router(access.tokens.keys))  # for gateways: infra/deploy/gateway
    api = create_command_api(routers, database_answers, lifespan)
    api.state.access = access
    api.state.audit_log = bootstrap.audit_log(settings)
    _finish(api, settings, commands=True)
    return api


def read_api(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_tracing("read-api")
    if settings.log_format == "json":
        configure_logging("read-api", "json")
    es = async_elasticsearch(settings)
    alias = settings.products_alias

    async def index_answers() -> None:
        if not await es.indices.exists_alias(name=alias):
            raise RuntimeError(f"the search index {alias} does not exist yet")

    redis = _redis(settings)
    pool = AsyncConnectionPool(settings.database_url, min_size=1, max_size=10, open=False)

    async def database_answers() -> None:
        async with pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")

    async def redis_answers() -> None:
        await redis.ping()

    async def dependencies_answer() -> None:
        # In this order: the search index is what most reads need.
        await first_missing(
            {
                "elasticsearch": index_answers,
                "postgres": database_answers,
                "redis": redis_answers,
            }
        )

    positions = AppliedPositions(
        bootstrap.projection_checkpoints(settings),
        settings.database_url,
        settings.kafka_partitions,
    )
    applied = positions.of
    access = _access(settings, redis)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await pool.open()
        await positions.start()
        await _restore_not_before(access)
        yield
        await positions.stop()
        await pool.close()
        await es.close()
        await redis.aclose()
        _close_not_before(access)

    products_applied = applied(PRODUCT_SEARCH, "catalog")

    side = ReadSide(settings, pool.connection, redis, es, applied)
    more_routers = [audit_api.router(pool.connection, settings.schema_for("security"))]
    more_routers += [model.router(side) for model in READ_MODELS if model.router is not None]
    api = create_read_api(
        es,
        alias,
        products_applied,
        dependencies_answer,
        lambda: projection_status(settings),
        lifespan,
        more_routers=more_routers,
        products_answers=RecentAnswers(
            lambda: positions.generation(PRODUCT_SEARCH), settings.read_cache_seconds
        ),
        bus_document=asyncapi_document(settings.topic),
    )
    api.state.access = access
    api.state.positions = positions
    _finish(api, settings)
    return api


def _redis(settings: Settings) -> Redis:
    """The APIs' Redis client: short timeouts, so a stalled Redis fails requests fast."""
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_connect_timeout_seconds,
    )


def _access(settings: Settings, redis: Redis) -> Access:
    tokens = bootstrap.token_service(settings)
    # Revocations are written from handler threads: a synchronous client, same timeouts.
    sync_redis = SyncRedis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_connect_timeout_seconds,
    )
    not_before = NotBefore(
        bootstrap.not_before_records(settings),
        sync_redis,
        settings.namespace,
        tokens.access_seconds,
    )
    return Access(
        tokens,
        RateLimiter(redis, settings.namespace),
        Limit(settings.rate_per_address, settings.burst_per_address),
        Limit(settings.rate_per_user, settings.burst_per_user),
        Limit(settings.registration_rate_per_minute / 60, settings.registration_burst),
        not_before,
    )


async def _restore_not_before(access: Access) -> None:
    """A wiped Redis gets back the revocations that still matter (ADR 0033)."""
    if access.not_before is not None:
        await run_in_threadpool(access.not_before.restore)


def _close_not_before(access: Access) -> None:
    if access.not_before is not None and access.not_before.redis is not None:
        access.not_before.redis.close()


def _finish(api: FastAPI, settings: Settings, *, commands: bool = False) -> None:
    install_docs(api)
    # Public like /healthz, outside the rate limits, not in the OpenAPI document.
    api.add_route("/metrics", metrics_endpoint(), include_in_schema=False)
    install_problem_handlers(api)
    api.add_middleware(CardDataRefusal)
    # Added last, so it runs first: the card-data check never buffers an oversized body.
    api.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Added last, so it runs first: a slow body upload counts against the time too.
    api.add_middleware(RequestTimeout, seconds=settings.request_timeout_seconds)
    # Metrics outermost: timeouts and refused bodies are counted and timed too (ADR 0029);
    # inside it the server span, which covers the whole request, refusals included (ADR 0030).
    api.add_middleware(TraceRequests)
    api.add_middleware(HttpMetrics, commands=commands)
    redact_access_log()
