"""Traces on a real OTLP/HTTP receiver: the platform processes started to export to it, a
command sent in a caller's trace, and reading the spans back (kinds, ancestors, the spans of
a server and of the clients it called)."""

from __future__ import annotations

import secrets
import sys

import httpx

from commands.card_data import card_data_field
from infra.embedded.otlp import OtlpReceiver, ReceivedSpan
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.auth import as_admin
from tests.support.bodies import product_json
from tests.support.platform import eventually

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


# About one random trace context in 200 holds a run of digits that passes the card-number
# check, and the API serves such a request on a trace of its own (ADR 0030): a test that
# looks for its trace downstream draws ids that stay clear of it.


def a_trace_id() -> str:
    while True:
        trace_id = secrets.token_hex(16)
        if card_data_field({"traceparent": f"00-{trace_id}-"}) is None:
            return trace_id


def a_span_id(trace_id: str, flags: str = "01") -> str:
    """A caller's span id that makes no card-like ``traceparent`` with ``trace_id``."""
    while True:
        span_id = secrets.token_hex(8)
        if card_data_field({"traceparent": f"00-{trace_id}-{span_id}-{flags}"}) is None:
            return span_id


def traceparent(trace_id: str, span_id: str | None = None, flags: str = "01") -> str:
    """A caller's W3C ``traceparent``: its span ``span_id`` (a new one if not given) in trace
    ``trace_id``; ``flags`` 01 says the caller sampled it, 00 that it did not."""
    return f"00-{trace_id}-{span_id or a_span_id(trace_id, flags)}-{flags}"


def add_kettle(
    command_url: str,
    settings: Settings,
    sku: str,
    caller: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Add a kettle as an admin, the request a child of the ``caller``'s ``traceparent``."""
    added = httpx.post(
        f"{command_url}/products",
        json=product_json(sku, "Traced kettle", "39.00", brand="Boil", category="kitchen"),
        headers={**as_admin(settings), "traceparent": caller, **(headers or {})},
        timeout=30,
    )
    assert added.status_code == 201, added.text


def server_and_children(
    receiver: OtlpReceiver, trace_id: str, service: str, client: tuple[str, str], what: str
) -> tuple[ReceivedSpan, list[ReceivedSpan]]:
    """``service``'s server span in the trace and its spans whose attribute ``client[0]`` is
    ``client[1]`` (which database system they call), once both have been exported (30 s at
    most: ``what`` did not arrive)."""
    attribute, value = client

    def exported() -> tuple[ReceivedSpan, list[ReceivedSpan]] | None:
        spans = receiver.in_trace(trace_id)
        server = first_span(spans, service, SERVER)
        children = [
            s for s in spans if s.service == service and s.attributes.get(attribute) == value
        ]
        return (server, children) if server and children else None

    found: tuple[ReceivedSpan, list[ReceivedSpan]] = eventually(exported, timeout=30, what=what)
    return found
