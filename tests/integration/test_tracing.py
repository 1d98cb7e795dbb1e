"""One trace from the command API through the Kafka headers to the projector (issue 12,
ADR 0030): real processes export to a real OTLP/HTTP receiver, and log JSON lines; the saga
carries an order's trace on to its commands and the confirmation e-mail. (Postgres, Redis
and Elasticsearch calls as child spans: test_tracing_client_spans.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from infra.embedded.otlp import OtlpReceiver, ReceivedSpan
from infra.embedded.supervisor import Supervisor
from infra.platform import service_env
from infra.settings import Settings
from tests.support.bodies import product_json
from tests.support.checkout import running_checkout
from tests.support.platform import eventually
from tests.support.tracing import (
    CONSUMER,
    PRODUCER,
    SERVER,
    a_span_id,
    a_trace_id,
    add_kettle,
    ancestors,
    first_span,
    start_traced,
    traceparent,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


def test_a_command_is_one_trace_from_the_http_request_through_kafka_to_the_projector(
    settings: Settings, processes: Supervisor, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    env = {
        **service_env(settings),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export soon after each span ends
        "SHOP_LOG_FORMAT": "json",
    }
    for name in ("relay", "worker"):
        start_traced(processes, name, env)
    start_traced(processes, "command-api", env)
    url = f"http://{settings.api_host}:{settings.command_api_port}"
    processes.wait_healthy(
        "command-api", lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200, 60
    )

    trace_id = a_trace_id()
    caller_span = a_span_id(trace_id)
    caller = traceparent(trace_id, caller_span)
    add_kettle(url, settings, "TRC-0001", caller, {"X-Correlation-Id": "corr-traced-1"})

    def whole_trace() -> tuple[ReceivedSpan, ReceivedSpan, ReceivedSpan] | None:
        spans = receiver.in_trace(trace_id)
        server = first_span(spans, "shop-command-api", SERVER)
        publish = first_span(spans, "shop-relay", PRODUCER)
        process = first_span(spans, "shop-worker", CONSUMER)
        if server and publish and process:
            return server, publish, process
        return None

    try:
        server, publish, process = eventually(whole_trace, timeout=60, what="one trace")
    except AssertionError as e:
        seen = [(s.service, s.name, s.kind, s.trace_id) for s in receiver.spans]
        raise AssertionError(f"command, relay and projector spans in one trace: {seen}") from e
    # A chain, not just a shared id: caller → command API → relay → projector.
    assert server.parent_span_id == caller_span
    assert server.name == "POST /products"
    assert server.span_id in ancestors(receiver.in_trace(trace_id), publish), (
        publish.parent_span_id,
        caller_span,
    )
    assert publish.attributes["messaging.system"] == "kafka"
    assert publish.attributes["messaging.destination.name"] == settings.topic("catalog")
    assert process.parent_span_id == publish.span_id
    assert (trace_id, publish.span_id) in process.links
    assert process.attributes["messaging.operation.type"] == "process"
    assert process.attributes["messaging.destination.name"] == settings.topic("catalog")

    # The relay put the publish span's context into the message's headers.
    headers = _kafka_headers(settings, settings.topic("catalog"))
    assert f"00-{trace_id}-{publish.span_id}-01".encode() in headers

    # JSON log lines of the command API: each parses; the access line carries the trace.
    log = tmp_path / "logs" / "command-api.log"
    lines = eventually(
        lambda: [_json(line) for line in log.read_text().splitlines() if trace_id in line],
        timeout=10,
        what="a log line with the trace id",
    )
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            _json(line)
    traced = [line for line in lines if line.get("trace_id") == trace_id]
    assert traced, lines
    assert traced[0]["process"] == "command-api"
    assert traced[0]["span_id"] in {s.span_id for s in receiver.in_trace(trace_id)}
    assert {"time", "level", "logger", "message"} <= traced[0].keys()


def _json(line: str) -> dict[str, Any]:
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


def _kafka_headers(settings: Settings, topic: str) -> list[bytes]:
    """Every ``traceparent`` header the topic holds, read up to its end offsets: a
    quiet-period timeout would stop early on a busy machine and find nothing."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[bytes] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, "the topic was not read to its end in 60 s"
            for records in consumer.poll(timeout_ms=500).values():
                found.extend(
                    value
                    for record in records
                    for name, value in record.headers
                    if name == "traceparent"
                )
        return found
    finally:
        consumer.close()


def test_the_saga_continues_an_orders_trace_and_its_commands_carry_it_on(
    stack: Settings, receiver: OtlpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every process the checkout support starts inherits these.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
    with running_checkout(stack, tmp_path / "logs") as shop:
        sku = "TRC-SAGA-1"
        added = shop.command.post(
            "/products",
            json=product_json(sku, "Traced kettle", "25.00"),
        )
        assert added.status_code == 201, added.text
        shop.receive(sku, 5)
        trace_id = a_trace_id()
        caller_span = a_span_id(trace_id)
        placed = shop.command.post(
            "/orders",
            json={
                "customer_id": str(uuid4()),
                "cart_id": str(uuid4()),
                "lines": [
                    {
                        "sku": sku,
                        "quantity": 1,
                        "unit_price": {"amount": "25.00", "currency": "EUR"},
                    }
                ],
                "payment": {
                    "payment_token": "tok_approve",
                    "card_brand": "visa",
                    "last_four": "4242",
                },
            },
            headers={
                "Idempotency-Key": f"order-{uuid4()}",
                "traceparent": traceparent(trace_id, caller_span),
            },
        )
        assert placed.status_code == 201, placed.text
        order = shop.settled(UUID(placed.json()["id"]))
        assert order["status"] == "confirmed"

        def saga_carried_it_on() -> tuple[ReceivedSpan, ReceivedSpan] | None:
            spans = receiver.in_trace(trace_id)
            sagas = {s.span_id: s for s in spans if s.service == "shop-saga" and s.kind == CONSUMER}
            for publish in spans:
                if publish.service != "shop-relay" or publish.kind != PRODUCER:
                    continue
                for ancestor in ancestors(spans, publish):
                    if ancestor in sagas:
                        return sagas[ancestor], publish
            return None

        saga, publish = eventually(
            saga_carried_it_on,
            timeout=60,
            what="an event the saga stored, published in the order's trace",
        )
        assert saga.attributes["messaging.system"] == "kafka"
        assert saga.attributes["messaging.operation.type"] == "process"
        assert saga.attributes["shop.order_id"] == placed.json()["id"]
        assert publish.attributes["messaging.destination.name"] in {
            shop.settings.topic(c) for c in ("orders", "payments", "inventory")
        }

        # And the trace ends with the confirmation's e-mail: the notifier's span for the
        # OrderConfirmed event is in the order's trace (the customer here has no account,
        # so no address: it is skipped, which the span says).
        def mailed() -> ReceivedSpan | None:
            spans = receiver.in_trace(trace_id)
            found = [s for s in spans if s.name == "notify order_confirmed"]
            return found[0] if found else None

        notified = eventually(mailed, timeout=60, what="the confirmation's notification span")
        assert notified.service == "shop-worker"
        assert notified.kind == CONSUMER
        assert notified.attributes["shop.notification.outcome"] == "skipped:no_address"
