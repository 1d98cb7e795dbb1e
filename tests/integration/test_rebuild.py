"""Rebuilding the product index from the event store while writes and searches go on."""

from __future__ import annotations

import threading
from uuid import UUID

import pytest
from elasticsearch import Elasticsearch

from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.catalog import a_product, add_products, changing_prices
from tests.support.platform import (
    eventually,
    index_follows_event_store,
    indexed_products,
    run_cli,
    start_projecting,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def radios(settings: Settings, processes: Supervisor) -> list[UUID]:
    """Sixty radios in the catalog, all in the index the running relay and worker keep."""
    ids = add_products(settings, (a_product(f"R-{i}", f"Radio {i}", "50") for i in range(60)))
    start_projecting(processes, settings)
    eventually(lambda: len(indexed_products(settings)) == 60, what="initial projection")
    return ids


def test_a_rebuild_under_live_writes_loses_nothing_and_searches_keep_answering(
    settings: Settings, radios: list[UUID]
) -> None:
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

    searcher = threading.Thread(target=search_continuously)
    searcher.start()
    with changing_prices(settings, radios, changes=200, first_minor=5000, seed=3):
        rebuilt = run_cli(settings, "projections", "rebuild", "products")
    stop.set()
    searcher.join()

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "products: rebuilt into" in rebuilt.stdout
    assert search_failures == []
    index_follows_event_store(settings, timeout=60, what="the rebuilt index equals the event store")
    es = Elasticsearch(settings.elasticsearch_url)
    behind = list(es.indices.get_alias(name=settings.products_alias))
    es.close()
    assert len(behind) == 1
    assert behind[0] in rebuilt.stdout


def test_rebuilding_an_unknown_read_model_is_a_clear_error(settings: Settings) -> None:
    result = run_cli(settings, "projections", "rebuild", "nonsense", timeout=60)
    assert result.returncode == 2
    assert "unknown read model 'nonsense'" in result.stderr
