"""Liveness, readiness and ``/metrics`` of the processes that are not HTTP APIs.

The relay, the worker and the saga each serve a small HTTP server in a thread of their own
(bound on ``api_host`` at ``relay_metrics_port``, ``worker_metrics_port``,
``saga_metrics_port``), so a probe is answered even while the process's own loop is busy:

- ``GET /healthz``: 200 while the process can do its work, 503 (with why) when it cannot
  recover by itself (a stuck worker: behind, and no progress for ``worker_stuck_seconds``);
- ``GET /readyz``: 200 when it is doing its work (a standby relay is ready: its body says
  ``standby``), 503 naming the missing dependency otherwise;
- ``GET /metrics``: the Prometheus text format.

A check is a function returning ``(ok, body)``; bodies are small JSON objects.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from contract.watermark import complete_up_to
from infra.observability.http_metrics import exposition
from infra.observability.metrics import PROJECTION_STUCK, RelayMetrics, SagaMetrics, child

log = logging.getLogger(__name__)
Check = Callable[[], tuple[bool, dict[str, Any]]]


@dataclass
class Probes:
    live: Check
    ready: Check


def serve(host: str, port: int, probes: Probes, registry: CollectorRegistry) -> ThreadingHTTPServer:
    """Start the server in a daemon thread; it lives as long as the process."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            if path == "/metrics":
                self._answer(200, exposition(registry), CONTENT_TYPE_LATEST)
                return
            check = {"/healthz": probes.live, "/readyz": probes.ready}.get(path)
            if check is None:
                body = {"status": 404, "detail": "only /healthz, /readyz and /metrics here"}
                self._answer(404, json.dumps(body).encode(), "application/problem+json")
                return
            try:
                ok, answer = check()
            except Exception as e:  # a failing check is an unhealthy answer, not a 500
                ok, answer = False, {"status": "unavailable", "reason": f"check failed: {e}"}
            self._answer(200 if ok else 503, json.dumps(answer).encode(), "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # probes are not news
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    log.info("health and metrics on http://%s:%d/metrics", host, server.server_address[1])
    return server


def serve_or_warn(
    host: str, port: int, probes: Probes, registry: CollectorRegistry
) -> ThreadingHTTPServer | None:
    """``serve``, or a logged error (the process still does its work) if the port is taken."""
    try:
        return serve(host, port, probes, registry)
    except OSError as e:
        log.error("cannot serve health and metrics on %s:%d: %s", host, port, e)
        return None


def database_check(ping: Callable[[], None]) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            ping()
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            return f"postgres: {first[:200]}"
        return None

    return check


# -- relay ---------------------------------------------------------------------------------


def relay_probes(metrics: RelayMetrics, threads: Iterable[threading.Thread]) -> Probes:
    """Live while every context's thread runs; ready unless a context's last attempt failed
    (the answer names the dependency); a relay waiting on the lock is a ready standby."""
    threads = list(threads)

    def live() -> tuple[bool, dict[str, Any]]:
        dead = [t.name for t in threads if not t.is_alive()]
        if dead:
            return False, {"status": "unhealthy", "reason": "stopped: " + ", ".join(dead)}
        return True, {"status": "ok"}

    def ready() -> tuple[bool, dict[str, Any]]:
        ok, answer = live()
        if not ok:
            return ok, answer
        failing = {c: e for c, e in metrics.errors.items() if e is not None}
        if failing:
            context, error = sorted(failing.items())[0]
            dependency = error.partition(":")[0]
            return False, {
                "status": "unavailable",
                "dependency": dependency,
                "reason": f"relay {context}: {error}",
            }
        roles = {c: "leader" if lead else "standby" for c, lead in metrics.leader.items()}
        if roles and all(role == "standby" for role in roles.values()):
            return True, {"status": "standby", "contexts": roles}
        return True, {"status": "ready", "contexts": roles}

    return Probes(live, ready)


# -- worker: the high-water check ------------------------------------------------------------


@dataclass
class _Mark:
    applied: int
    since: float


@dataclass
class StuckWatch:
    """Finds projections that are behind and have not moved for ``stuck_seconds``.

    Behind: the published position of the context (what Kafka has) is past the projection's
    applied position. A lag check alone stays green while a consumer is dead or wedged with
    a small lag; a progress check alone turns red on every quiet projection. This one
    remembers, per projection and context, since when its applied position has not changed
    while behind, so a projection that just received new events is not stuck, and one that
    sits still while events wait is, whatever the size of the lag.
    """

    read_positions: Callable[[], tuple[dict[tuple[str, str], dict[int, int]], dict[str, int]]]
    followed: list[tuple[str, str]]
    partitions: int
    stuck_seconds: float
    clock: Callable[[], float] = time.monotonic
    stuck: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    _marks: dict[tuple[str, str], _Mark] = field(default_factory=dict)

    def evaluate(self) -> None:
        try:
            applied_by_key, published = self.read_positions()
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self.error = f"postgres: {first[:200]}"
            return
        self.error = None
        now = self.clock()
        stuck: dict[tuple[str, str], dict[str, Any]] = {}
        for key in self.followed:
            applied = complete_up_to(applied_by_key.get(key, {}), self.partitions)
            head = published.get(key[1], 0)
            mark = self._marks.get(key)
            if mark is None or mark.applied != applied or head <= applied:
                mark = self._marks[key] = _Mark(applied, now)
            still = now - mark.since
            is_stuck = head > applied and still >= self.stuck_seconds
            child(PROJECTION_STUCK, *key).set(1 if is_stuck else 0)
            if is_stuck:
                stuck[key] = {
                    "applied_position": applied,
                    "published_position": head,
                    "seconds_without_progress": round(still, 1),
                }
        self.stuck = stuck

    def run(self, interval: float = 1.0) -> None:
        def loop() -> None:
            while True:
                self.evaluate()
                time.sleep(interval)

        threading.Thread(target=loop, name="stuck-watch", daemon=True).start()

    def probes(self) -> Probes:
        def live() -> tuple[bool, dict[str, Any]]:
            if self.stuck:
                (projection, context), facts = sorted(self.stuck.items())[0]
                return False, {
                    "status": "unhealthy",
                    "reason": f"projection {projection} of {context} is stuck: behind and no "
                    f"progress for {facts['seconds_without_progress']} s",
                    "stuck": [
                        {"projection": p, "context": c, **f}
                        for (p, c), f in sorted(self.stuck.items())
                    ],
                }
            return True, {"status": "ok"}

        def ready() -> tuple[bool, dict[str, Any]]:
            ok, answer = live()
            if not ok:
                return ok, answer
            if self.error is not None:
                return False, {
                    "status": "unavailable",
                    "dependency": "postgres",
                    "reason": self.error,
                }
            return True, {"status": "ready"}

        return Probes(live, ready)


# -- saga ------------------------------------------------------------------------------------


def saga_probes(
    metrics: SagaMetrics,
    ping: Callable[[], str | None],
    timer_seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> Probes:
    """Live while the deadline timer keeps ticking (its loop is the saga's); ready when the
    database answers too."""
    started = clock()
    allowed = max(30.0, timer_seconds * 10)

    def live() -> tuple[bool, dict[str, Any]]:
        last = metrics.last_tick if metrics.last_tick is not None else started
        if clock() - last > allowed:
            return False, {
                "status": "unhealthy",
                "reason": f"the deadline timer has not run for {clock() - last:.0f} s",
            }
        return True, {"status": "ok"}

    def ready() -> tuple[bool, dict[str, Any]]:
        ok, answer = live()
        if not ok:
            return ok, answer
        missing = ping()
        if missing is not None:
            return False, {"status": "unavailable", "dependency": "postgres", "reason": missing}
        return True, {"status": "ready"}

    return Probes(live, ready)
