"""The metadata an envelope carries beside its payload: correlation, causation and the W3C
trace context of the command that stored the event (ADR 0001, ADR 0030)."""

from __future__ import annotations

from dataclasses import dataclass

# The W3C trace-context names, used as Kafka header names and as stored metadata keys.
TRACEPARENT, TRACESTATE = "traceparent", "tracestate"


@dataclass(frozen=True, slots=True)
class EventMetadata:
    correlation_id: str
    causation_id: str
    traceparent: str | None = None
    tracestate: str | None = None
