"""Reading traces off a real OTLP/HTTP receiver: the span kinds, a span's ancestors, and the
platform processes started to export to it."""

from __future__ import annotations

import sys

from infra.embedded.otlp import ReceivedSpan
from infra.embedded.supervisor import Supervisor

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # opentelemetry.proto Span.SpanKind


def start_traced(processes: Supervisor, name: str, env: dict[str, str]) -> None:
    """Start the platform process ``name`` with ``env`` (which names the receiver)."""
    processes.start(name, [sys.executable, "-m", "infra.cli", name], env=env, signal_group=False)


def first_span(spans: list[ReceivedSpan], service: str, kind: int) -> ReceivedSpan | None:
    found = [s for s in spans if s.service == service and s.kind == kind]
    return found[0] if found else None


def ancestors(spans: list[ReceivedSpan], span: ReceivedSpan) -> list[str]:
    """The span ids of ``span``'s parent, its parent's parent, … as far as ``spans`` go."""
    by_id = {s.span_id: s for s in spans}
    found = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        found.append(span.span_id)
    return found
