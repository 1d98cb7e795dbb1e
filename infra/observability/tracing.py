"""The OpenTelemetry SDK, set up at process start from the standard ``OTEL_*`` variables.

Off (the API's no-op tracer) unless ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_TRACES_EXPORTER`` is set;
``OTEL_TRACES_EXPORTER=none`` and ``OTEL_SDK_DISABLED=true`` keep it off. Exports OTLP over
HTTP/protobuf (``otlp``) or to stdout (``console``), batched.

When on, Postgres (psycopg) and Redis calls become CLIENT spans below the span that made them
(the official instrumentations, patched in only then: with tracing off the drivers run
unwrapped). Elasticsearch calls are spanned by the client itself, through the API.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from starlette.types import Message, Receive, Scope, Send

from commands.card_data import card_data_field
from contract.trace_context import context_of, drivers_traced_if_recorded, tracer
from infra.asgi import HttpMiddleware

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor

_ENABLING = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)
_configured = False
_TRACE_CONTEXT_HEADERS = (b"traceparent", b"tracestate")
_WELL_FORMED_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


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
    processors: list[SpanProcessor] = []
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
        processors.append(BatchSpanProcessor(exporter))
        provider.add_span_processor(processors[-1])
    trace.set_tracer_provider(provider)
    # The Elasticsearch client (8.13 on) spans its requests itself, through the API and so
    # this provider. Its search bodies hold what a customer typed: never an attribute, whatever
    # the environment asks for. It reads this when a client is built, which is after this.
    os.environ["OTEL_PYTHON_INSTRUMENTATION_ELASTICSEARCH_CAPTURE_SEARCH_QUERY"] = "omit"
    _instrument_clients(resource, processors)
    _configured = True
    return True


def _instrument_clients(resource: Resource, processors: list[SpanProcessor]) -> None:
    """Postgres and Redis calls as CLIENT spans, only below a sampled span of this process.

    Their own provider samples no root span: the relay's and the checkpoints' polling, the
    read API's position refresh and the pools' health checks would each be a trace of one
    span, several a second, burying the traces that matter. Below a span they follow its
    sampling decision, and the same processors export them.

    The instrumentors patch ``psycopg.connect`` and the ``connect`` class methods of
    ``Connection`` and ``AsyncConnection``, which is what psycopg_pool calls for each new
    connection, so pooled connections are covered as long as they are opened after this.
    Stores that keep ``partial(psycopg.connect, dsn)`` hold whichever function was there when
    they were built, so every process calls ``configure_tracing`` before it builds a store.
    Redis is patched in the client classes (sync and asyncio): clients built before are
    covered too.
    """
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    children = TracerProvider(
        sampler=ParentBased(ALWAYS_OFF), resource=resource, shutdown_on_exit=False
    )  # the main provider flushes and shuts down the shared processors
    for processor in processors:
        children.add_span_processor(processor)
    # The statement text keeps its placeholders; parameter values (names, e-mail and postal
    # addresses, token hashes) never become attributes. Both are the defaults, spelled out
    # so that nobody turns them on in passing: no sqlcommenter either, which would write the
    # trace context into the SQL text that Postgres logs.
    PsycopgInstrumentor().instrument(
        tracer_provider=children, capture_parameters=False, enable_commenter=False
    )
    # db.statement is the command name and a "?" per argument: keys (which hold user ids and
    # client addresses) and values stay out.
    RedisInstrumentor().instrument(tracer_provider=children)


class TraceRequests(HttpMiddleware):
    """A server span per HTTP request, continuing an incoming W3C ``traceparent``.

    With tracing off no span is recorded, but the incoming context is still made current,
    so the events a command stores keep the caller's ``traceparent`` (ADR 0030)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        traceparent = headers.get("traceparent")
        if traceparent is not None and _card_like(traceparent):
            scope = _without_trace_context(scope)
            parent = None
        else:
            parent = context_of(traceparent, headers.get("tracestate"))
        method = scope.get("method", "GET")
        status: list[int] = []

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        started = time.monotonic()
        with (
            tracer.start_as_current_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes={
                    "http.request.method": method,
                    "url.scheme": scope.get("scheme", "http"),
                },
            ) as span,
            drivers_traced_if_recorded(span),
        ):
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


def _card_like(traceparent: str) -> bool:
    """A well-formed ``traceparent`` whose ids pass for a card number.

    Its ids are random hex: about one in 200 has a run of decimal digits that passes the
    card-number check. Refusing it as card data (``CardDataRefusal``) would fail a traced
    client's requests at random; continuing it would store that number with every event.
    Such a request starts a trace of its own instead. A malformed ``traceparent`` is no
    trace context and is checked like any other header."""
    text = traceparent.strip()
    return (
        bool(_WELL_FORMED_TRACEPARENT.fullmatch(text))
        and card_data_field({"traceparent": text}) is not None
    )


def _without_trace_context(scope: Scope) -> Scope:
    kept = [(k, v) for k, v in scope["headers"] if k not in _TRACE_CONTEXT_HEADERS]
    return {**scope, "headers": kept}
