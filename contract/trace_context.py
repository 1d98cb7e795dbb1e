"""The W3C trace context every command, envelope and Kafka message carries (ADR 0030): part
of the contract, so that the write side, the relay and every consumer read and write it the
same way, through ``opentelemetry-api`` only.

Without an SDK (tracing off) every span is a no-op, yet an incoming ``traceparent`` is still
carried on: the propagator reads it into the context and writes it back out unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from contract.envelope import Envelope
from contract.metadata import TRACEPARENT, TRACESTATE

_PROPAGATOR = TraceContextTextMapPropagator()

tracer = trace.get_tracer("shop")
# The key every official instrumentation checks before recording (its plain-string form is
# the one opentelemetry-api users may set without the instrumentation package).
_SUPPRESS_INSTRUMENTATION = "suppress_instrumentation"


@contextmanager
def drivers_traced_if_recorded(span: trace.Span) -> Iterator[None]:
    """Inside a span that is not recorded (tracing off, or sampled out), the drivers'
    instrumentations are suppressed: their children would not be recorded either, yet each
    would still read and name its statement first, which costs a traced command about as
    much as recording everything (``make bench``, scenario ``instrumentation``)."""
    if span.is_recording():
        yield
        return
    token = otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION, True))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def one_client_span(name: str, **attributes: Any) -> Iterator[None]:
    """A client span of ours for statements sent together in one round trip (a pipeline),
    with the drivers' own spans suppressed inside: theirs would time the queueing of each
    statement, not its work, and cost more than the work they describe."""
    with tracer.start_as_current_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes):
        token = otel_context.attach(otel_context.set_value(_SUPPRESS_INSTRUMENTATION, True))
        try:
            yield
        finally:
            otel_context.detach(token)


def current_trace_headers(context: Context | None = None) -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) of the current span; empty when there is none."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """The remote context these headers name; None for missing or malformed ones."""
    if not traceparent:
        return None
    carrier = {TRACEPARENT: traceparent}
    if tracestate:
        carrier[TRACESTATE] = tracestate
    context = _PROPAGATOR.extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def headers_of(raw: Mapping[Any, Any] | Iterable[tuple[Any, Any]] | None) -> dict[str, str]:
    """Kafka message headers (a list of pairs or a mapping, values bytes) as text."""
    if not raw:
        return {}
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    result: dict[str, str] = {}
    for key, value in pairs:
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name in (TRACEPARENT, TRACESTATE) and value is not None:
            result[name] = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return result


def span_context_of(context: Context | None) -> trace.SpanContext | None:
    if context is None:
        return None
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def envelope_context(envelope: Envelope, headers: Any = None) -> Context | None:
    """The trace context a message carries: its Kafka headers, else the envelope's fields."""
    found = headers_of(headers)
    if TRACEPARENT in found:
        return context_of(found[TRACEPARENT], found.get(TRACESTATE))
    return context_of(envelope.traceparent, envelope.tracestate)
