"""Correlation and causation ids carried inside each stored event.

Domain events stay free of tracing concerns: the command handler sets the ids for
the current unit of work, and the mapper writes them next to the event state. The W3C
trace context current when the unit of work began is kept beside them (ADR 0030).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent

from contract.metadata import TRACEPARENT, TRACESTATE, EventMetadata
from contract.trace_context import current_trace_headers

_META_KEY = "_meta"


_current: ContextVar[EventMetadata | None] = ContextVar("shop_event_metadata", default=None)


@contextmanager
def caused_by(correlation_id: str | None, causation_id: str | None = None) -> Iterator[None]:
    """Events saved inside this block carry these ids (a fresh correlation id if none) and
    the trace context current on entry."""
    correlation = correlation_id or str(uuid4())
    trace_headers = current_trace_headers()
    token = _current.set(
        EventMetadata(
            correlation,
            causation_id or correlation,
            trace_headers.get(TRACEPARENT),
            trace_headers.get(TRACESTATE),
        )
    )
    try:
        yield
    finally:
        _current.reset(token)


def current_correlation_id() -> str | None:
    """The correlation id of the ``caused_by`` block we are in, if any."""
    metadata = _current.get()
    return None if metadata is None else metadata.correlation_id


class MetadataMapper(Mapper[UUID]):
    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        metadata = _current.get()
        if metadata is None:
            return super().to_stored_event(domain_event)
        # A shallow copy, so the event the aggregate holds is left untouched.
        carrier = copy.copy(domain_event)
        meta = {"correlation_id": metadata.correlation_id, "causation_id": metadata.causation_id}
        if metadata.traceparent:
            meta[TRACEPARENT] = metadata.traceparent
            if metadata.tracestate:
                meta[TRACESTATE] = metadata.tracestate
        object.__setattr__(carrier, _META_KEY, meta)
        return super().to_stored_event(carrier)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return self.decode(stored_event)[0]

    def decode(
        self, stored_event: StoredEvent
    ) -> tuple[DomainEventProtocol[UUID], EventMetadata | None]:
        domain_event = super().to_domain_event(stored_event)
        raw: Any = domain_event.__dict__.pop(_META_KEY, None)
        if raw is None:
            return domain_event, None
        return domain_event, EventMetadata(
            raw["correlation_id"], raw["causation_id"], raw.get(TRACEPARENT), raw.get(TRACESTATE)
        )
