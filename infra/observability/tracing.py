"""The OpenTelemetry SDK, set up at process start from the standard ``OTEL_*`` variables.

Off (the API's no-op tracer) unless ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_TRACES_EXPORTER`` is set;
``OTEL_TRACES_EXPORTER=none`` and ``OTEL_SDK_DISABLED=true`` keep it off. Exports OTLP over
HTTP/protobuf (``otlp``) or to stdout (``console``), batched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commands.tracing import context_of, tracer

_ENABLING = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)
_configured = False


def tracing_wanted(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(env.get(name, "").strip() for name in _ENABLING)


def configure_tracing(process: str) -> bool:
    """Install the SDK's tracer provider for this process if tracing is wanted; idempotent.
    True when spans are exported."""
    global _configured
    if _configured:
        return True
    if not tracing_wanted():
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the default name.
    resource = Resource.create({SERVICE_NAME: f"shop-{process}", "shop.process": process})
    provider = TracerProvider(resource=resource)  # shuts down (flushes) at exit
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    for name in (n.strip() for n in names.split(",")):
        exporter: SpanExporter
        if name == "console":
            exporter = ConsoleSpanExporter()
        elif name in ("otlp", "otlp_proto_http"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: only otlp, console or none")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True
    return True


class TraceRequests:
    """A server span per HTTP request, continuing an incoming W3C ``traceparent``.

    With tracing off no span is recorded, but the incoming context is still made current,
    so the events a command stores keep the caller's ``traceparent`` (ADR 0030)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        parent = context_of(headers.get("traceparent"), headers.get("tracestate"))
        method = scope.get("method", "GET")
        status: list[int] = []

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        started = time.monotonic()
        with tracer.start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.scheme": scope.get("scheme", "http")},
        ) as span:
            try:
                await self.app(scope, receive, tracking_send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                if status:
                    span.set_attribute("http.response.status_code", status[0])
                    if status[0] >= 500:
                        span.set_status(trace.StatusCode.ERROR)
                span.set_attribute("shop.duration_ms", (time.monotonic() - started) * 1000)
