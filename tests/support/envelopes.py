"""The one way tests build envelopes: from an aggregate's pending events, as the relay
does, or by hand for an event of a given type and payload."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from contract.envelope import SCHEMA_VERSION, Envelope, envelope_for


def envelopes_of(context: str, aggregate: Any, first_position: int = 1) -> list[Envelope]:
    """The envelopes the relay would publish for the aggregate's uncollected events."""
    return [
        envelope_for(context, event, position, None)
        for position, event in enumerate(aggregate.collect_events(), start=first_position)
    ]


def an_envelope(
    type_: str,
    payload: dict[str, Any] | None = None,
    *,
    aggregate_id: object = None,
    aggregate_version: int = 1,
    position: int = 1,
    event_id: str | None = None,
    correlation_id: str | None = None,
    traceparent: str | None = None,
    occurred_at: str = "2026-01-01T00:00:00+00:00",
) -> Envelope:
    """An envelope of ``type_`` ("context.EventName"); what a test leaves out is filler."""
    return Envelope(
        event_id=event_id or str(uuid4()),
        type=type_,
        schema_version=SCHEMA_VERSION,
        context=type_.split(".", 1)[0],
        aggregate_id=str(aggregate_id or uuid4()),
        aggregate_version=aggregate_version,
        position=position,
        occurred_at=occurred_at,
        correlation_id=correlation_id,
        causation_id=correlation_id,
        payload=payload or {},
        traceparent=traceparent,
    )
