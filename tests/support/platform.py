"""Starting platform processes (relay, worker, APIs) as real subprocesses in tests."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

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


def product_prices_in_index(settings: Settings) -> dict[str, tuple[int, int]]:
    """What the search index says: product id → (catalog version, price in minor units)."""
    return {
        doc_id: (doc["versions"]["catalog"], doc["price_minor"])
        for doc_id, doc in indexed_products(settings).items()
    }
