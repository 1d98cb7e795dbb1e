"""Every metric family of the platform, and the observers that feed them (ADR 0029).

Prometheus naming: ``shop_`` prefix, base units (seconds, events, positions), ``_total``
counters, histograms for durations and batch sizes. Each process registers what it does in
the one default registry; a family a process never touches is still exported (with no
samples), so a dashboard never depends on which process started first.

The inner layers call small observer hooks (``commands.observers``, ``streams.observers``,
``notifications.observers.NotificationObserver``); the classes here implement them with label
children bound once per label set, so the hot path is a dictionary lookup and an increment.

API processes with ``api_workers > 1`` run in prometheus-client's multiprocess mode (see
``infra.observability.exposition``): every metric here is multiprocess-safe (gauges declare
how their per-process values combine).
"""

from __future__ import annotations

import time
from typing import Any, TypeVar, cast

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from commands.observers import CommandObserver, SagaObserver
from notifications.observers import NotificationObserver
from streams.observers import ProjectionObserver, RelayObserver

# Seconds: from a millisecond (an in-process command) to a minute (a stalled gateway).
SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Events in a batch (the relay's and the streams' batches are at most 500 by default).
BATCH = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# -- HTTP (both APIs) ---------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "shop_http_requests_total",
    "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "shop_http_request_duration_seconds",
    "Time from request to the end of the response, by route template and method",
    ["route", "method"],
    buckets=SECONDS,
)
HTTP_IN_FLIGHT = Gauge(
    "shop_http_requests_in_flight",
    "Requests being served now",
    multiprocess_mode="livesum",
)

# -- Commands (command API and the saga's own commands) ----------------------------------
COMMANDS = Counter(
    "shop_commands_total",
    "Commands by context, command and outcome (ok, conflict, refused, error)",
    ["context", "command", "outcome"],
)
APPEND_DURATION = Histogram(
    "shop_event_store_append_duration_seconds",
    "Time to append a command's events to the event store (group commit wait included)",
    ["context"],
    buckets=SECONDS,
)
EVENTS_APPENDED = Counter(
    "shop_event_store_events_appended_total", "Events appended to the event store", ["context"]
)
IDEMPOTENT_REPEATS = Counter(
    "shop_idempotent_repeats_total",
    "Keyed commands answered with their first response (Idempotency-Key repeats)",
    ["context", "command"],
)

# -- Security -----------------------------------------------------------------------------
RATE_LIMIT_REFUSALS = Counter(
    "shop_rate_limit_refusals_total",
    "Requests refused with 429, by limit (request, login, registration)",
    ["limit"],
)
AUTH_FAILURES = Counter(
    "shop_authentication_failures_total",
    "Requests refused with 401, by reason (never the token itself)",
    ["reason"],
)

# -- Relay --------------------------------------------------------------------------------
RELAY_BATCH = Histogram(
    "shop_relay_batch_size_events", "Events per published batch", ["context"], buckets=BATCH
)
RELAY_PUBLISH_DURATION = Histogram(
    "shop_relay_publish_duration_seconds",
    "Time to publish a batch and have every message acknowledged",
    ["context"],
    buckets=SECONDS,
)
RELAY_PUBLISHED_EVENTS = Counter(
    "shop_relay_published_events_total", "Events published to Kafka", ["context"]
)
RELAY_REPUBLISHES = Counter(
    "shop_relay_republishes_total",
    "Times the whole log was published again because the topic lost messages",
    ["context"],
)
RELAY_LEADER = Gauge(
    "shop_relay_leader",
    "1 while this relay holds the context's lock, 0 while it waits as a standby",
    ["context"],
    multiprocess_mode="max",
)
RELAY_FAILING = Gauge(
    "shop_relay_failing",
    "1 while the relay's last attempt failed (broker or database away)",
    ["context"],
    multiprocess_mode="max",
)

# -- Projections (the worker) -------------------------------------------------------------
PROJECTION_BATCH = Histogram(
    "shop_projection_batch_size_events",
    "Events per applied batch",
    ["projection", "context"],
    buckets=BATCH,
)
PROJECTION_APPLY_DURATION = Histogram(
    "shop_projection_apply_duration_seconds",
    "Time to apply a batch and advance its checkpoint",
    ["projection", "context"],
    buckets=SECONDS,
)
PROJECTION_DEAD_LETTERS = Counter(
    "shop_projection_dead_letters_total",
    "Events a projection could not apply (parked on the dead-letter topic)",
    ["projection", "context"],
)
PROJECTION_CATCH_UPS = Counter(
    "shop_projection_catch_ups_total",
    "Times a projection read events from the event store that Kafka no longer held",
    ["projection", "context"],
)
PROJECTION_CAUGHT_UP_EVENTS = Counter(
    "shop_projection_caught_up_events_total",
    "Events read from the event store in catch-ups",
    ["projection", "context"],
)
PROJECTION_STUCK = Gauge(
    "shop_projection_stuck",
    "1 while a projection is behind and its applied position has not moved for the "
    "configured time (worker_stuck_seconds)",
    ["projection", "context"],
    multiprocess_mode="max",
)

# -- Saga, gateway, notifications -----------------------------------------------------------
SAGA_STEPS = Counter(
    "shop_saga_steps_total",
    "Saga steps by kind and outcome (ok, refused, conflict, stalled, error)",
    ["kind", "outcome"],
)
SAGA_ORDERS = Counter(
    "shop_saga_orders_finished_total", "Orders the saga took to a final state", ["state"]
)
GATEWAY_CALLS = Counter(
    "shop_gateway_calls_total",
    "Payment gateway calls by operation and outcome (approved, declined, no_answer)",
    ["operation", "outcome"],
)
GATEWAY_DURATION = Histogram(
    "shop_gateway_call_duration_seconds",
    "Payment gateway call latency",
    ["operation"],
    buckets=SECONDS,
)
SAGA_TICKS = Counter("shop_saga_timer_ticks_total", "Runs of the saga's deadline timer")
NOTIFICATIONS = Counter(
    "shop_notifications_total",
    "Notifications by outcome (sent, failed, skipped, retried) and reason of a skip",
    ["outcome", "reason"],
)


M = TypeVar("M", bound=MetricWrapperBase)
_CHILDREN: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}


def child(family: M, *labels: str) -> M:
    """The label child of ``family`` for ``labels``, bound once and kept (a lookup, not
    prometheus-client's label validation and lock, on every later call)."""
    key = (family, labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = family.labels(*labels)
    return cast(M, found)


class CommandMetrics(CommandObserver):
    def appended(self, context: str, events: int, seconds: float) -> None:
        child(APPEND_DURATION, context).observe(seconds)
        child(EVENTS_APPENDED, context).inc(events)

    def repeated(self, operation: str) -> None:
        context, _, command = operation.partition(".")
        child(IDEMPOTENT_REPEATS, context, command).inc()


class SagaMetrics(SagaObserver):
    def __init__(self) -> None:
        self.last_tick: float | None = None

    def step(self, kind: str, outcome: str) -> None:
        child(SAGA_STEPS, kind, outcome).inc()

    def finished(self, state: str) -> None:
        child(SAGA_ORDERS, state).inc()

    def gateway(self, operation: str, outcome: str, seconds: float) -> None:
        child(GATEWAY_CALLS, operation, outcome).inc()
        child(GATEWAY_DURATION, operation).observe(seconds)

    def ticked(self) -> None:
        self.last_tick = time.monotonic()
        SAGA_TICKS.inc()


class RelayMetrics(RelayObserver):
    """Also the relay's health: who leads, and what failed last (``infra.observability.health``)."""

    def __init__(self) -> None:
        self.leader: dict[str, bool] = {}
        self.errors: dict[str, str | None] = {}

    def leading(self, context: str, leader: bool) -> None:
        self.leader[context] = leader
        child(RELAY_LEADER, context).set(1 if leader else 0)

    def published(self, context: str, events: int, seconds: float) -> None:
        child(RELAY_BATCH, context).observe(events)
        child(RELAY_PUBLISH_DURATION, context).observe(seconds)
        child(RELAY_PUBLISHED_EVENTS, context).inc(events)

    def republished(self, context: str) -> None:
        child(RELAY_REPUBLISHES, context).inc()

    def failed(self, context: str, error: BaseException | None) -> None:
        self.errors[context] = None if error is None else _dependency_of(error)
        child(RELAY_FAILING, context).set(0 if error is None else 1)


def _dependency_of(error: BaseException) -> str:
    """The dependency an error of the relay's loop names: the database or the broker."""
    import psycopg

    what = "postgres" if isinstance(error, psycopg.Error) else "kafka"
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"{what}: {first[:200]}"


class ProjectionMetrics(ProjectionObserver):
    def applied(self, projection: str, context: str, events: int, seconds: float) -> None:
        child(PROJECTION_BATCH, projection, context).observe(events)
        duration = child(PROJECTION_APPLY_DURATION, projection, context)
        duration.observe(seconds)

    def dead_lettered(self, projection: str, context: str) -> None:
        child(PROJECTION_DEAD_LETTERS, projection, context).inc()

    def caught_up(self, projection: str, context: str, events: int) -> None:
        child(PROJECTION_CATCH_UPS, projection, context).inc()
        read = child(PROJECTION_CAUGHT_UP_EVENTS, projection, context)
        read.inc(events)


class NotificationMetrics(NotificationObserver):
    def notified(self, outcome: str, reason: str = "") -> None:
        child(NOTIFICATIONS, outcome, reason).inc()
