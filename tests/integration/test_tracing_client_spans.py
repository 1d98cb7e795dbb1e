"""Postgres, Redis and Elasticsearch calls are child spans of the request that made them
(ADR 0030): real API processes export to a real OTLP/HTTP receiver; no parameter value is
recorded, a trace the caller sampled out records nothing, and no client span is an orphan."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import partial
from uuid import uuid4

import httpx
import pytest

from infra.embedded.otlp import OtlpReceiver
from infra.embedded.supervisor import Supervisor
from infra.platform import service_env
from infra.read_models import async_elasticsearch
from infra.settings import Settings
from projections.sinks.product_index import ProductIndex
from tests.support.tracing import (
    CLIENT,
    a_trace_id,
    add_kettle,
    ancestors,
    server_and_children,
    start_traced,
    traceparent,
)

# Split from test_tracing.py, whose tests tests/conftest.py (LONGEST_FIRST) marks slow.
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


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
        start_traced(processes, name, env)
    command = f"http://{settings.api_host}:{settings.command_api_port}"
    read = f"http://{settings.api_host}:{settings.read_api_port}"
    for name, url in (("command-api", command), ("read-api", read)):
        processes.wait_healthy(name, partial(_ready, url), 60)

    # A command: its event store writes are Postgres spans below the command API's span.
    command_trace, sku, key = a_trace_id(), "TRC-SPAN-7", f"key-{uuid4()}"
    add_kettle(command, settings, sku, traceparent(command_trace), {"Idempotency-Key": key})
    server, postgres = server_and_children(
        receiver,
        command_trace,
        "shop-command-api",
        ("db.system", "postgresql"),
        what="a Postgres span in the command's trace",
    )
    assert server.name == "POST /products"
    for span in postgres:
        assert span.kind == CLIENT
        assert server.span_id in ancestors(receiver.in_trace(command_trace), span)
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
    search_trace = a_trace_id()
    found = httpx.get(
        f"{read}/products/search",
        params={"q": "kettle"},
        headers={"traceparent": traceparent(search_trace)},
        timeout=30,
    )
    assert found.status_code == 200, found.text
    server, es_spans = server_and_children(
        receiver,
        search_trace,
        "shop-read-api",
        ("db.system.name", "elasticsearch"),
        what="an Elasticsearch span in the search's trace",
    )
    assert server.name == "GET /products/search"
    spans = receiver.in_trace(search_trace)
    assert any(s.attributes.get("db.operation.name") == "search" for s in es_spans), es_spans
    for span in es_spans:
        assert server.span_id in ancestors(spans, span)
        assert "kettle" not in " ".join(str(v) for v in span.attributes.values()), span
    redis = [s for s in spans if s.attributes.get("db.system") == "redis"]
    assert redis, [(s.name, s.attributes) for s in spans]
    for span in redis:
        assert span.kind == CLIENT
        assert server.span_id in ancestors(spans, span)
        # The command name and a "?" for each key and argument (a client address, a user).
        assert set(str(span.attributes["db.statement"]).split()[1:]) <= {"?"}, span

    # A caller that sampled its trace out: nothing of it is recorded, the drivers' spans
    # included (contract/trace_context.py suppresses them), while a sampled request sent after it
    # is (so the absence is not just an exporter that has not sent yet).
    unsampled, sentinel = a_trace_id(), a_trace_id()
    for trace_id, flags, name in ((unsampled, "00", "UNSAMPLED"), (sentinel, "01", "SAMPLED")):
        add_kettle(command, settings, f"TRC-{name}", traceparent(trace_id, flags=flags))
    server_and_children(
        receiver,
        sentinel,
        "shop-command-api",
        ("db.system", "postgresql"),
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


def _ready(url: str) -> bool:
    return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
