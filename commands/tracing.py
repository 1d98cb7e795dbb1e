"""W3C trace context for the inner layers, through ``opentelemetry-api`` only (ADR 0030).

Without an SDK (tracing off) every span is a no-op, yet an incoming ``traceparent`` is still
carried on: the propagator reads it into the context and writes it back out unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT, TRACESTATE = "traceparent", "tracestate"
_PROPAGATOR = TraceContextTextMapPropagator()

tracer = trace.get_tracer("shop")


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
