"""One trace from the command API through the Kafka headers to the projector (issue 12,
ADR 0030): real processes export to a real OTLP/HTTP receiver, and log JSON lines. Postgres,
Redis and Elasticsearch calls are child spans of the request that made them."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition

from infra.embedded.otlp import OtlpReceiver, ReceivedSpan
from infra.embedded.supervisor import Supervisor
from infra.platform import service_env
from infra.read_models import async_elasticsearch
from infra.settings import Settings
from projections.sinks.product_index import ProductIndex
from tests.support.auth import as_admin
from tests.support.checkout import running_checkout
from tests.support.platform import eventually

pytestmark = pytest.mark.integration

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # opentelemetry.proto Span.SpanKind


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


def _start(processes: Supervisor, settings: Settings, name: str, env: dict[str, str]) -> None:
    processes.start(name, [sys.executable, "-m", "infra.cli", name], env=env, signal_group=False)


def _one(spans: list[ReceivedSpan], service: str, kind: int) -> ReceivedSpan | None:
    found = [s for s in spans if s.service == service and s.kind == kind]
    return found[0] if found else None


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
        _start(processes, settings, name, env)
    _start(processes, settings, "command-api", env)
    url = f"http://{settings.api_host}:{settings.command_api_port}"
    processes.wait_healthy(
        "command-api", lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200, 60
    )

    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    response = httpx.post(
        f"{url}/products",
        json={
            "sku": "TRC-0001",
            "name": "Traced kettle",
            "brand": "Boil",
            "category": "kitchen",
            "price": {"amount": "39.00", "currency": "EUR"},
        },
        headers={
            **as_admin(settings),
            "traceparent": f"00-{trace_id}-{caller_span}-01",
            "X-Correlation-Id": "corr-traced-1",
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text

    def whole_trace() -> tuple[ReceivedSpan, ReceivedSpan, ReceivedSpan] | None:
        spans = receiver.in_trace(trace_id)
        server = _one(spans, "shop-command-api", SERVER)
        publish = _one(spans, "shop-relay", PRODUCER)
        process = _one(spans, "shop-worker", CONSUMER)
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
    assert server.span_id in _ancestors(receiver.in_trace(trace_id), publish), (
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


def _ancestors(spans: list[ReceivedSpan], span: ReceivedSpan) -> list[str]:
    by_id = {s.span_id: s for s in spans}
    found = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        found.append(span.span_id)
    return found


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
            json={
                "sku": sku,
                "name": "Traced kettle",
                "brand": "B",
                "category": "misc",
                "price": {"amount": "25.00", "currency": "EUR"},
            },
        )
        assert added.status_code == 201, added.text
        shop.receive(sku, 5)
        trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
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
                "traceparent": f"00-{trace_id}-{caller_span}-01",
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
                for ancestor in _ancestors(spans, publish):
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


def test_postgres_redis_and_elasticsearch_calls_are_child_spans_of_the_request(
    settings: Settings, processes: Supervisor, receiver: OtlpReceiver
) -> None:
    async def create_index() -> None:  # the worker's job; not started here
        es = async_elasticsearch(settings)
        try:
            await ProductIndex(es, settings.products_alias).ensure()
        finally:
            await es.close()

    asyncio.run(create_index())
    env = {
        **service_env(settings),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    for name in ("command-api", "read-api"):
        _start(processes, settings, name, env)
    command = f"http://{settings.api_host}:{settings.command_api_port}"
    read = f"http://{settings.api_host}:{settings.read_api_port}"
    for name, url in (("command-api", command), ("read-api", read)):
        processes.wait_healthy(name, partial(_ready, url), 60)

    # A command: its event store writes are Postgres spans below the command API's span.
    command_trace, sku, key = secrets.token_hex(16), "TRC-SPAN-7", f"key-{uuid4()}"
    _add_kettle(command, settings, sku, command_trace, "01", {"Idempotency-Key": key})
    server, postgres = eventually(
        lambda: _server_and_children(
            receiver, command_trace, "shop-command-api", "db.system", "postgresql"
        ),
        timeout=30,
        what="a Postgres span in the command's trace",
    )
    assert server.name == "POST /products"
    for span in postgres:
        assert span.kind == CLIENT
        assert server.span_id in _ancestors(receiver.in_trace(command_trace), span)
    statements = [str(s.attributes.get("db.statement", "")) for s in postgres]
    assert any(s.lstrip().upper().startswith("SELECT") for s in statements), statements
    # The events are written by the group commit: one span of ours for its pipelined
    # statements, the driver's own spans of them suppressed (commands/tracing.py).
    (write,) = [s for s in postgres if s.name == "group commit"]
    assert write.attributes["shop.events"] == 1, write.attributes
    assert not any(s.lstrip().upper().startswith(("SAVEPOINT", "BEGIN")) for s in statements)
    # The statement text only, with its placeholders: no parameter values in any attribute.
    for span in receiver.in_trace(command_trace):
        assert "db.statement.parameters" not in span.attributes, span
        values = " ".join(str(v) for v in span.attributes.values())
        assert sku not in values, span
        assert key not in values, span

    # A search: the Elasticsearch request and the rate limiter's Redis call are children.
    search_trace = secrets.token_hex(16)
    found = httpx.get(
        f"{read}/products/search",
        params={"q": "kettle"},
        headers={"traceparent": f"00-{search_trace}-{secrets.token_hex(8)}-01"},
        timeout=30,
    )
    assert found.status_code == 200, found.text
    server, es_spans = eventually(
        lambda: _server_and_children(
            receiver, search_trace, "shop-read-api", "db.system.name", "elasticsearch"
        ),
        timeout=30,
        what="an Elasticsearch span in the search's trace",
    )
    assert server.name == "GET /products/search"
    spans = receiver.in_trace(search_trace)
    assert any(s.attributes.get("db.operation.name") == "search" for s in es_spans), es_spans
    for span in es_spans:
        assert server.span_id in _ancestors(spans, span)
        assert "kettle" not in " ".join(str(v) for v in span.attributes.values()), span
    redis = [s for s in spans if s.attributes.get("db.system") == "redis"]
    assert redis, [(s.name, s.attributes) for s in spans]
    for span in redis:
        assert span.kind == CLIENT
        assert server.span_id in _ancestors(spans, span)
        # The command name and a "?" for each key and argument (a client address, a user).
        assert set(str(span.attributes["db.statement"]).split()[1:]) <= {"?"}, span

    # A caller that sampled its trace out: nothing of it is recorded, the drivers' spans
    # included (commands/tracing.py suppresses them), while a sampled request sent after it
    # is (so the absence is not just an exporter that has not sent yet).
    unsampled, sentinel = secrets.token_hex(16), secrets.token_hex(16)
    for trace_id, flags, name in ((unsampled, "00", "UNSAMPLED"), (sentinel, "01", "SAMPLED")):
        _add_kettle(command, settings, f"TRC-{name}", trace_id, flags)
    eventually(
        lambda: _server_and_children(
            receiver, sentinel, "shop-command-api", "db.system", "postgresql"
        ),
        timeout=30,
        what="the sampled request's spans",
    )
    assert receiver.in_trace(unsampled) == []

    # Calls outside any request (pool checks, the read API's position refresh) start no
    # trace of their own: every client span has a parent in this process.
    orphans = [
        (s.service, s.name)
        for s in receiver.spans
        if s.kind == CLIENT and s.attributes.get("db.system") and not s.parent_span_id
    ]
    assert not orphans, orphans


def _add_kettle(
    command: str,
    settings: Settings,
    sku: str,
    trace_id: str,
    flags: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Add a product under the caller's trace ``trace_id`` (``flags`` 01: sampled)."""
    added = httpx.post(
        f"{command}/products",
        json={
            "sku": sku,
            "name": "Spanned kettle",
            "brand": "Boil",
            "category": "kitchen",
            "price": {"amount": "39.00", "currency": "EUR"},
        },
        headers={
            **as_admin(settings),
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-{flags}",
            **(headers or {}),
        },
        timeout=30,
    )
    assert added.status_code == 201, added.text


def _ready(url: str) -> bool:
    return httpx.get(f"{url}/readyz", timeout=2).status_code == 200


def _server_and_children(
    receiver: OtlpReceiver, trace_id: str, service: str, attribute: str, value: str
) -> tuple[ReceivedSpan, list[ReceivedSpan]] | None:
    spans = receiver.in_trace(trace_id)
    server = _one(spans, service, SERVER)
    children = [s for s in spans if s.service == service and s.attributes.get(attribute) == value]
    return (server, children) if server and children else None
