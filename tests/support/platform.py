"""Starting platform processes (relay, worker, APIs) as real subprocesses in tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import httpx
from elasticsearch import Elasticsearch

from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.platform import service_env
from infra.settings import Settings


def start(supervisor: Supervisor, settings: Settings, name: str, *args: str) -> None:
    supervisor.start(
        name,
        [sys.executable, "-m", "infra.cli", name, *args],
        env=service_env(settings),
        signal_group=False,
    )


def start_projecting(supervisor: Supervisor, settings: Settings) -> None:
    """The relay and the worker: what the event store records reaches Kafka, and the read
    models (the product index among them) follow."""
    start(supervisor, settings, "relay")
    start(supervisor, settings, "worker")


def run_cli(
    settings: Settings, *args: str, timeout: float = 120, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """The platform's command line (``python -m infra.cli``) with ``args`` on the test's
    namespace, run to the end; its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        env=service_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def serve_apis(supervisor: Supervisor, settings: Settings) -> dict[str, str]:
    """Both APIs as real processes on the namespace's ports; once each answers ``/healthz``,
    their base URLs by ``"command"`` and ``"read"``."""
    urls = {}
    for api, port in (("command", settings.command_api_port), ("read", settings.read_api_port)):
        name = f"{api}-api"
        start(supervisor, settings, name)
        url = f"http://127.0.0.1:{port}"

        def ready(url: str = url) -> bool:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200

        supervisor.wait_healthy(name, ready, 90)
        urls[api] = url
    return urls


def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll until ``check`` returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    pause = 0.02  # most waits end within a second: look soon, then back off to 0.25 s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def indexed_products(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every product document behind the alias, by id."""
    es = Elasticsearch(settings.elasticsearch_url)
    try:
        es.indices.refresh(index=settings.products_alias)
        hits = es.search(index=settings.products_alias, size=10_000, query={"match_all": {}})[
            "hits"
        ]["hits"]
        return {hit["_id"]: hit["_source"] for hit in hits}
    finally:
        es.close()


def product_prices_in_event_store(settings: Settings) -> dict[str, tuple[int, int]]:
    """What the event store says: product id → (version, price in minor units)."""
    catalog = bootstrap.catalog(settings)
    try:
        ids = {n.originator_id for n in catalog.recorder.select_notifications(1, 100_000)}
        products = (catalog.get_product(UUID(str(i))) for i in ids)
        return {str(p.id): (p.version, p.price.minor) for p in products}
    finally:
        catalog.close()


def index_follows_event_store(settings: Settings, timeout: float, what: str) -> None:
    """Waits until every product's version and price in the index are the event store's."""
    expected = product_prices_in_event_store(settings)
    eventually(lambda: product_prices_in_index(settings) == expected, timeout=timeout, what=what)


def product_prices_in_index(settings: Settings) -> dict[str, tuple[int, int]]:
    """What the search index says: product id → (catalog version, price in minor units)."""
    return {
        doc_id: (doc["versions"]["catalog"], doc["price_minor"])
        for doc_id, doc in indexed_products(settings).items()
    }
