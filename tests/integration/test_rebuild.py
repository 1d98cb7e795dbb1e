"""Rebuilding the product index from the event store while writes and searches go on."""

from __future__ import annotations

import random
import subprocess
import sys
import threading

import pytest
from elasticsearch import Elasticsearch

from domain.money import Money
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.platform import service_env
from infra.settings import Settings
from tests.support.catalog import a_product, add_products
from tests.support.platform import (
    eventually,
    indexed_products,
    product_prices_in_event_store,
    product_prices_in_index,
    start,
)

pytestmark = pytest.mark.integration


def test_a_rebuild_under_live_writes_loses_nothing_and_searches_keep_answering(
    settings: Settings, processes: Supervisor
) -> None:
    ids = add_products(settings, (a_product(f"R-{i}", f"Radio {i}", "50") for i in range(60)))
    catalog = bootstrap.catalog(settings)
    start(processes, settings, "relay")
    start(processes, settings, "worker")
    eventually(lambda: len(indexed_products(settings)) == 60, what="initial projection")

    stop = threading.Event()
    search_failures: list[str] = []

    def search_continuously() -> None:
        es = Elasticsearch(settings.elasticsearch_url)
        while not stop.is_set():
            try:
                hits = es.search(index=settings.products_alias, q="radio")["hits"]["total"]
                if hits["value"] == 0:
                    search_failures.append("no hits")
            except Exception as e:
                search_failures.append(repr(e))
        es.close()

    def write_prices() -> None:
        rng = random.Random(3)
        for step in range(200):
            catalog.change_price(rng.choice(ids), Money(5000 + step + 1, "EUR"))

    searcher = threading.Thread(target=search_continuously)
    writer = threading.Thread(target=write_prices)
    searcher.start()
    writer.start()
    rebuilt = subprocess.run(
        [sys.executable, "-m", "infra.cli", "projections", "rebuild", "products"],
        env=service_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    writer.join()
    stop.set()
    searcher.join()
    catalog.close()

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "products: rebuilt into" in rebuilt.stdout
    assert search_failures == []
    expected = product_prices_in_event_store(settings)
    eventually(
        lambda: product_prices_in_index(settings) == expected,
        timeout=60,
        what="the rebuilt index equals the event store",
    )
    es = Elasticsearch(settings.elasticsearch_url)
    behind = list(es.indices.get_alias(name=settings.products_alias))
    es.close()
    assert len(behind) == 1
    assert behind[0] in rebuilt.stdout


def test_rebuilding_an_unknown_read_model_is_a_clear_error(settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "projections", "rebuild", "nonsense"],
        env=service_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown read model 'nonsense'" in result.stderr
