"""Metrics read from Postgres at scrape time: where every log and projection stands.

They are served by the relay process (it has an application per context), not by the worker,
so that a projection's lag keeps growing on a dashboard while the worker is down: a gauge
exported only by the stalled process would vanish with it. The saga's collector reports its
circuit breaker and pending timers.

A failure to read (the database away) drops these families from that scrape and is
counted in ``shop_collector_errors_total``; the process's own metrics are still served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from commands.base import ShopApplication
from contract.watermark import complete_up_to
from projections.checkpoints import ProjectionCheckpoints
from streams.checkpoints import RelayCheckpoints

log = logging.getLogger(__name__)
COLLECTOR_ERRORS = Counter(
    "shop_collector_errors_total", "Scrapes whose database-backed metrics failed", ["collector"]
)


class PipelineCollector(Collector):
    """Per context: stored head, published position, backlog. Per projection and context:
    applied position, positions behind the store's head, and lag in seconds (the age of the
    oldest event it has not applied)."""

    def __init__(
        self,
        apps: Mapping[str, ShopApplication],
        relay_checkpoints: RelayCheckpoints,
        projection_checkpoints: ProjectionCheckpoints,
        followed: Sequence[tuple[str, str]],
        partitions: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.apps = apps
        self.relay_checkpoints = relay_checkpoints
        self.projection_checkpoints = projection_checkpoints
        self.followed = followed
        self.partitions = partitions
        self.clock = clock

    def describe(self) -> list[Any]:
        return []  # collected lazily: registering must not query the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            families = self._families()
        except Exception as e:
            COLLECTOR_ERRORS.labels("pipeline").inc()
            log.warning("pipeline metrics unavailable: %s", e)
            return
        yield from families

    def _families(self) -> list[GaugeMetricFamily]:
        heads = {c: app.recorder.max_notification_id() or 0 for c, app in self.apps.items()}
        published = self.relay_checkpoints.all()
        by_key: dict[tuple[str, str], dict[int, int]] = {}
        for checkpoint in self.projection_checkpoints.all():
            key = (checkpoint.projection, checkpoint.context)
            by_key.setdefault(key, {})[checkpoint.partition] = checkpoint.position
        head = GaugeMetricFamily(
            "shop_relay_stored_head_position",
            "The last notification id in the context's event store",
            labels=["context"],
        )
        done = GaugeMetricFamily(
            "shop_relay_published_position",
            "The last position the relay published and had acknowledged",
            labels=["context"],
        )
        backlog = GaugeMetricFamily(
            "shop_relay_backlog_positions",
            "Positions stored but not yet published",
            labels=["context"],
        )
        for context, position in sorted(heads.items()):
            head.add_metric([context], position)
            done.add_metric([context], published.get(context, 0))
            backlog.add_metric([context], max(position - published.get(context, 0), 0))
        applied_family = GaugeMetricFamily(
            "shop_projection_applied_position",
            "The position up to which the projection applied every partition",
            labels=["projection", "context"],
        )
        behind_family = GaugeMetricFamily(
            "shop_projection_behind_positions",
            "Positions stored in the context but not yet applied by the projection",
            labels=["projection", "context"],
        )
        lag_family = GaugeMetricFamily(
            "shop_projection_lag_seconds",
            "Age of the oldest event the projection has not applied (0 when caught up)",
            labels=["projection", "context"],
        )
        now = self.clock()
        for projection, context in self.followed:
            applied = complete_up_to(by_key.get((projection, context), {}), self.partitions)
            stored = heads.get(context, 0)
            labels = [projection, context]
            applied_family.add_metric(labels, applied)
            behind_family.add_metric(labels, max(stored - applied, 0))
            lag_family.add_metric(labels, self._age_after(context, applied, stored, now))
        return [head, done, backlog, applied_family, behind_family, lag_family]

    def _age_after(self, context: str, applied: int, stored: int, now: datetime) -> float:
        """Seconds since the first event after ``applied`` happened (0 if there is none)."""
        if stored <= applied or context not in self.apps:
            return 0.0
        app = self.apps[context]
        notifications = app.recorder.select_notifications(
            start=applied, limit=1, inclusive_of_start=False
        )
        if not notifications:
            return 0.0
        event = app.mapper.to_domain_event(notifications[0])
        occurred = getattr(event, "timestamp", None)
        if not isinstance(occurred, datetime):
            return 0.0
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        return max((now - occurred).total_seconds(), 0.0)


class SagaCollector(Collector):
    """The payment gateway's circuit breaker (one-hot by state) and pending timers by kind."""

    def __init__(
        self,
        breaker_state: Callable[[], str | None],
        pending_timers: Callable[[], dict[str, int]],
    ) -> None:
        self.breaker_state = breaker_state
        self.pending_timers = pending_timers

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self.breaker_state()
        breaker = GaugeMetricFamily(
            "shop_gateway_circuit_breaker_state",
            "1 for the circuit breaker's current state (closed, half-open, open)",
            labels=["state"],
        )
        if state is not None:
            for name in ("closed", "half-open", "open"):
                breaker.add_metric([name], 1 if name == state else 0)
        yield breaker
        try:
            pending = self.pending_timers()
        except Exception as e:
            COLLECTOR_ERRORS.labels("saga").inc()
            log.warning("saga timer metrics unavailable: %s", e)
            return
        timers = GaugeMetricFamily(
            "shop_saga_pending_timers",
            "Saga deadlines set and not yet cleared, by kind (payment, retry)",
            labels=["kind"],
        )
        for kind, count in sorted(pending.items()):
            timers.add_metric([kind], count)
        yield timers
