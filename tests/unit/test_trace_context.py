"""Trace context in event metadata and envelopes, and JSON log lines (ADR 0030)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import psycopg
import pytest
import redis
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from commands.metadata import caused_by
from contract.envelope import Envelope
from contract.trace_context import (
    context_of,
    current_trace_headers,
    drivers_traced_if_recorded,
    envelope_context,
    headers_of,
)
from infra.observability.logs import JsonLines, _utc_time
from infra.observability.tracing import configure_tracing
from streams.tracing import process_span
from tests.support.envelopes import an_envelope

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = f"00-{TRACE}-b7ad6b7169203331-01"


def test_caused_by_keeps_the_current_traceparent_even_without_an_sdk() -> None:
    from commands.metadata import _current

    token = otel_context.attach(context_of(PARENT, "vendor=1"))  # type: ignore[arg-type]
    try:
        with caused_by("corr-1"):
            metadata = _current.get()
    finally:
        otel_context.detach(token)
    assert metadata is not None
    assert metadata.traceparent == PARENT
    assert metadata.tracestate == "vendor=1"
    with caused_by("corr-2"):
        assert _current.get().traceparent is None  # type: ignore[union-attr]


def test_malformed_trace_headers_are_no_context() -> None:
    assert context_of("00-" + "0" * 32 + "-" + "0" * 16 + "-01") is None
    assert context_of("garbage\r\ninjected") is None
    assert context_of(None) is None
    assert current_trace_headers() == {}


def test_the_envelope_round_trips_its_trace_context_and_headers_win() -> None:
    envelope = Envelope.from_json(an_envelope("catalog.ProductAdded", traceparent=PARENT).to_json())
    assert envelope.traceparent == PARENT
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    from_headers = envelope_context(envelope, [("traceparent", other.encode())])
    from_fields = envelope_context(envelope, [("projection", b"x")])
    assert current_trace_headers(from_headers)["traceparent"] == other
    assert current_trace_headers(from_fields)["traceparent"] == PARENT
    assert headers_of({b"traceparent": other.encode(), b"other": b"x"}) == {"traceparent": other}


def test_a_batch_of_one_trace_continues_it_and_of_many_does_not() -> None:
    one = context_of(PARENT)
    with process_span("p", "topic", "group", [one, one]):
        assert current_trace_headers()["traceparent"] == PARENT  # no-op span: the parent
    many = [one, context_of(f"00-{'1' * 32}-{'2' * 16}-01")]
    with process_span("p", "topic", "group", many):
        assert current_trace_headers() == {}


def test_json_log_lines_parse_escape_control_characters_and_mask_card_numbers() -> None:
    record = logging.LogRecord(
        "shop.test",
        logging.WARNING,
        __file__,
        1,
        'paid %s\r\n{"forged": 1}\u2028',
        ("4111 1111 1111 1111",),
        None,
    )
    token = otel_context.attach(context_of(PARENT))  # type: ignore[arg-type]
    try:
        with caused_by("corr-9"):
            line = JsonLines("worker").format(record)
    finally:
        otel_context.detach(token)
    for raw in ("\n", "\r", "\u2028"):
        assert raw not in line
    parsed = json.loads(line)
    assert parsed["process"] == "worker"
    assert parsed["level"] == "WARNING"
    assert parsed["logger"] == "shop.test"
    assert parsed["trace_id"] == TRACE
    assert parsed["span_id"] == "b7ad6b7169203331"
    assert parsed["correlation_id"] == "corr-9"
    assert "4111" not in parsed["message"]
    assert parsed["message"].startswith("paid [card number]\r\n")


def test_with_tracing_off_no_driver_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
    ):
        monkeypatch.delenv(name, raising=False)
    assert configure_tracing("unit") is False
    # The instrumentors wrap these in place (wrapt proxies have __wrapped__); off, they run bare.
    for patched in (
        psycopg.connect,
        psycopg.Connection.connect,
        psycopg.AsyncConnection.connect,
        redis.Redis.execute_command,
        redis.asyncio.Redis.execute_command,
    ):
        assert not hasattr(patched, "__wrapped__"), patched


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_the_json_line_time_is_the_isoformat_of_its_instant(created: float) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert _utc_time(created) == expected


def test_drivers_are_not_traced_inside_a_span_that_is_not_recorded() -> None:
    """A sampled-out request pays nothing for the drivers' instrumentations: they check this
    before naming a statement (the cost the bench's instrumentation scenario shows)."""
    unsampled = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    with drivers_traced_if_recorded(unsampled):
        assert not is_instrumentation_enabled()
    assert is_instrumentation_enabled()

    class Recorded(trace.NonRecordingSpan):
        def is_recording(self) -> bool:
            return True

    with drivers_traced_if_recorded(Recorded(trace.INVALID_SPAN_CONTEXT)):
        assert is_instrumentation_enabled()
