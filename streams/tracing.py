"""Spans of the message bus: the relay's publish spans and the consumers' process spans,
with the OpenTelemetry messaging semantic conventions (ADR 0030). API only: no-op spans
unless infra set up the SDK, while the trace context itself is carried on either way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind

from contract.envelope import Envelope
from contract.metadata import TRACEPARENT, TRACESTATE
from contract.trace_context import (
    current_trace_headers,
    drivers_traced_if_recorded,
    envelope_context,
    span_context_of,
    tracer,
)


@contextmanager
def publish_span(topic: str, envelope: Envelope) -> Iterator[list[tuple[str, bytes]]]:
    """A producer span, child of the event's trace; yields the headers to send with it.

    With tracing off the span is a no-op and the headers are the event's own context."""
    attributes = {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": topic,
        "messaging.message.id": envelope.event_id,
        "messaging.kafka.message.key": envelope.aggregate_id,
        "shop.event.type": envelope.type,
        "shop.correlation_id": envelope.correlation_id or "",
    }
    with tracer.start_as_current_span(
        f"send {topic}",
        context=envelope_context(envelope),
        kind=SpanKind.PRODUCER,
        attributes=attributes,
    ):
        carrier = current_trace_headers()
        if TRACEPARENT not in carrier and envelope.traceparent:
            carrier = {TRACEPARENT: envelope.traceparent}
            if envelope.tracestate:
                carrier[TRACESTATE] = envelope.tracestate
        yield [(name, value.encode()) for name, value in carrier.items()]


@contextmanager
def process_span(
    name: str,
    topic: str,
    consumer_group: str,
    contexts: Sequence[Context | None],
    **extra: str | int,
) -> Iterator[trace.Span]:
    """One consumer span for a batch of messages, linked to each message's context.

    When every message of the batch belongs to one trace, that trace is also the parent, so
    a single command's events show as one tree; a batch of many traces is a root of its own
    that links to each (a span has one parent only)."""
    span_contexts = [c for c in map(span_context_of, contexts) if c is not None]
    links = [Link(c) for c in _distinct(span_contexts)]
    trace_ids = {c.trace_id for c in span_contexts}
    parent = next(c for c in contexts if c is not None) if len(trace_ids) == 1 else None
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": consumer_group,
        "messaging.batch.message_count": len(contexts),
        **extra,
    }
    with (
        tracer.start_as_current_span(
            f"process {topic} {name}",
            context=parent if parent is not None else Context(),
            kind=SpanKind.CONSUMER,
            links=links,
            attributes=attributes,
        ) as span,
        drivers_traced_if_recorded(span),
    ):
        yield span


def _distinct(span_contexts: Iterable[trace.SpanContext]) -> list[trace.SpanContext]:
    seen: dict[tuple[int, int], trace.SpanContext] = {}
    for c in span_contexts:
        seen.setdefault((c.trace_id, c.span_id), c)
    return list(seen.values())
