"""HTTP metrics of both APIs (one ASGI middleware), and the ``/metrics`` exposition.

Labels are the route *template* (``/carts/{cart_id}/items``), never the path, and
``unmatched`` for a request no route took, so a client cannot grow the number of series.
On the command API, a command route (a POST, PUT, PATCH or DELETE of a context's router)
also counts ``shop_commands_total`` by context (the router's tag), command (the route's
name) and outcome from its status: 2xx/3xx ok, 409 conflict, other 4xx refused, 5xx error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.asgi import HttpMiddleware
from infra.observability.metrics import (
    AUTH_FAILURES,
    COMMANDS,
    HTTP_DURATION,
    HTTP_IN_FLIGHT,
    HTTP_REQUESTS,
    RATE_LIMIT_REFUSALS,
    child,
)

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOT_COMMANDS = frozenset({"health", "operations"})


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 409:
        return "conflict"
    return "refused" if status < 500 else "error"


class _Bound:
    """The children one (route, method, status) updates, bound on its first request."""

    __slots__ = ("command", "duration", "requests")

    def __init__(self, template: str, method: str, status: int, command: tuple[str, str] | None):
        self.requests = child(HTTP_REQUESTS, template, method, str(status))
        self.duration = child(HTTP_DURATION, template, method)
        self.command = (
            child(COMMANDS, command[0], command[1], outcome_of(status)) if command else None
        )


class HttpMetrics(HttpMiddleware):
    """Outermost middleware: counts and times every request, timeouts and 413s included."""

    def __init__(self, app: ASGIApp, commands: bool = False) -> None:
        super().__init__(app)
        self.commands = commands
        # By the route's id: routes live as long as the app (and APIRoute is unhashable).
        self._bound: dict[tuple[int, str, int], _Bound] = {}

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 500  # what the client gets if the app raises before answering

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_IN_FLIGHT.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            elapsed = time.perf_counter() - started
            HTTP_IN_FLIGHT.dec()
            route = scope.get("route")
            method = scope["method"]
            key = (id(route), method, status)
            bound = self._bound.get(key)
            if bound is None:
                bound = self._bound[key] = self._bind(route, method, status)
            bound.requests.inc()
            bound.duration.observe(elapsed)
            if bound.command is not None:
                bound.command.inc()

    def _bind(self, route: Any, method: str, status: int) -> _Bound:
        template = getattr(route, "path", None) or "unmatched"
        command = None
        tags = getattr(route, "tags", None) or []
        if self.commands and method in _WRITES and tags and tags[0] not in _NOT_COMMANDS:
            command = (str(tags[0]), str(getattr(route, "name", "unknown")))
        return _Bound(template, method, status, command)


def count_refusal(exc: Exception) -> None:
    """Called by the problem handler for every HTTPException: 401s and 429s by reason."""
    limit = getattr(exc, "limit", None)
    if isinstance(limit, str):
        child(RATE_LIMIT_REFUSALS, limit).inc()
    reason = getattr(exc, "reason", None)
    if getattr(exc, "status_code", None) == 401:
        child(AUTH_FAILURES, reason if isinstance(reason, str) else "other").inc()


def registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """What ``/metrics`` exports: this process's metrics, or (multiprocess mode) every worker
    process's combined, plus ``extra`` collectors evaluated at scrape time."""
    if os.environ.get(MULTIPROCESS_DIR):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        for collector in extra:
            combined.register(collector)
        return combined
    for collector in extra:
        REGISTRY.register(collector)
    return REGISTRY


def exposition(source: CollectorRegistry) -> bytes:
    return generate_latest(source)


def metrics_endpoint(source: CollectorRegistry | None = None) -> Any:
    """A Starlette endpoint serving ``source`` (built lazily: in multiprocess mode the
    collector must be made after the worker process started)."""
    holder: list[CollectorRegistry] = [source] if source is not None else []

    async def metrics(_: Request) -> Response:
        if not holder:
            holder.append(registry())
        return Response(exposition(holder[0]), media_type=CONTENT_TYPE_LATEST)

    return metrics
