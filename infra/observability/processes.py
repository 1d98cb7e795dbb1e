"""Health and metrics for each process that is not an API: what ``shop relay``, ``shop
worker`` and ``shop saga`` start next to their work (ADR 0029)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY

from commands.saga.deadlines import PAYMENT, RETRY
from commands.saga.process import OrderSaga
from infra import bootstrap, read_models
from infra.observability.collectors import PipelineCollector, SagaCollector
from infra.observability.health import (
    StuckWatch,
    database_check,
    relay_probes,
    saga_probes,
    serve_or_warn,
)
from infra.observability.metrics import RelayMetrics, SagaMetrics
from infra.settings import Settings
from streams.relay import Relay


def _ping(settings: Settings) -> Callable[[], None]:
    connect = bootstrap.postgres(settings)

    def ping() -> None:
        with connect() as conn:
            conn.execute("SELECT 1")

    return ping


def observe_relay(
    settings: Settings,
    metrics: RelayMetrics,
    relays: Iterable[Relay],
    threads: Iterable[threading.Thread],
) -> None:
    """Serve the relay's probes and metrics, with every log's and projection's position."""
    REGISTRY.register(
        PipelineCollector(
            {relay.context: relay.app for relay in relays},
            bootstrap.relay_checkpoints(settings),
            bootstrap.projection_checkpoints(settings),
            read_models.followed(),
            settings.kafka_partitions,
        )
    )
    serve_or_warn(
        settings.api_host, settings.relay_metrics_port, relay_probes(metrics, threads), REGISTRY
    )


def observe_worker(settings: Settings) -> StuckWatch:
    """Serve the worker's probes and metrics; the stuck check runs every second."""
    projection_checkpoints = bootstrap.projection_checkpoints(settings)
    relay_checkpoints = bootstrap.relay_checkpoints(settings)

    def positions() -> tuple[dict[tuple[str, str], dict[int, int]], dict[str, int]]:
        applied: dict[tuple[str, str], dict[int, int]] = {}
        for checkpoint in projection_checkpoints.all():
            key = (checkpoint.projection, checkpoint.context)
            applied.setdefault(key, {})[checkpoint.partition] = checkpoint.position
        return applied, relay_checkpoints.all()

    watch = StuckWatch(
        positions, read_models.followed(), settings.kafka_partitions, settings.worker_stuck_seconds
    )
    watch.evaluate()
    watch.run()
    serve_or_warn(settings.api_host, settings.worker_metrics_port, watch.probes(), REGISTRY)
    return watch


class SagaHolder:
    """The saga, once the Faust app has built it (lazily, in a thread of its own)."""

    def __init__(self, settings: Settings, metrics: SagaMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.saga: OrderSaga | None = None

    def build(self) -> OrderSaga:
        self.saga = bootstrap.order_saga(self.settings, self.metrics)
        return self.saga

    def breaker_state(self) -> str | None:
        gateway: Any = self.saga.apps.payments.gateway if self.saga is not None else None
        breaker = getattr(gateway, "breaker", None)
        return str(breaker.state) if breaker is not None else None


def observe_saga(settings: Settings, metrics: SagaMetrics, holder: SagaHolder) -> None:
    deadlines = bootstrap.saga_deadlines(settings)

    def pending() -> dict[str, int]:
        return {PAYMENT: 0, RETRY: 0, **deadlines.pending()}

    REGISTRY.register(SagaCollector(holder.breaker_state, pending))
    probes = saga_probes(metrics, database_check(_ping(settings)), settings.saga_timer_seconds)
    serve_or_warn(settings.api_host, settings.saga_metrics_port, probes, REGISTRY)
