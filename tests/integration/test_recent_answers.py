"""The read API reuses a product page or search while the product index has applied
nothing new (read_api/answers.py), on the real search server and real pushed positions:
an answer is served again until the projection's checkpoint moves, never longer than
``read_cache_seconds``, and never to a reader waiting for its own write."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from infra import apps, bootstrap
from infra.settings import Settings
from projections.sinks.product_index import PRODUCT_SEARCH
from tests.support.auth import as_admin
from tests.support.platform import eventually
from tests.support.search import ensure_product_index

pytestmark = [pytest.mark.integration, pytest.mark.shared_namespace]
PRODUCT = "00000000-0000-0000-0000-000000000042"


def document(price: int) -> dict[str, Any]:
    return {
        "id": PRODUCT,
        "sku": "LAMP-42",
        "name": "Reading lamp",
        "description": "a lamp",
        "brand": "Sonora",
        "category": "home",
        "price_minor": price,
        "currency": "EUR",
        "status": "active",
        "in_stock": True,
        "created_at": "2026-11-01T00:00:00+00:00",
        "updated_at": "2026-11-01T00:00:00+00:00",
        "versions": {"catalog": 1},
    }


class Index:
    """The product index written as the projector would: the document, then its
    checkpoint (which the read API hears about through NOTIFY)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.es = Elasticsearch(settings.elasticsearch_url)
        self.position = 0

    def write(self, price: int) -> None:
        self.es.index(
            index=self.settings.products_alias, id=PRODUCT, document=document(price), refresh=True
        )

    def checkpoint(self) -> None:
        self.position += 1

        async def advance() -> None:
            checkpoints = bootstrap.projection_checkpoints(self.settings)
            await checkpoints.open()
            await checkpoints.advance(PRODUCT_SEARCH, "catalog", {0: self.position})
            await checkpoints.close()

        asyncio.run(advance())


@pytest.fixture
def index(settings: Settings) -> Iterator[Index]:
    ensure_product_index(settings)
    index = Index(settings)
    yield index
    index.es.close()


def price_of_page(client: TestClient) -> int:
    return int(client.get(f"/products/{PRODUCT}").json()["price"]["minor"])


def price_in_search(client: TestClient) -> int:
    (item,) = client.get("/products/search", params={"q": "lamp"}).json()["items"]
    return int(item["price"]["minor"])


@contextmanager
def answering(
    settings: Settings,
    index: Index,
    price: int,
    seconds: float,
    first: Callable[[TestClient], int] = price_of_page,
) -> Iterator[TestClient]:
    """The read API keeping answers for ``seconds``, once the product was indexed and
    checkpointed at ``price`` and the ``first`` read (the page, or a search) answered it."""
    index.write(price)
    index.checkpoint()
    app = apps.read_api(settings.model_copy(update={"read_cache_seconds": seconds}))
    with TestClient(app, headers=as_admin(settings)) as client:
        # Answers are kept only once positions are pushed (the listener's first read).
        positions = app.state.positions
        eventually(lambda: positions.generation(PRODUCT_SEARCH) is not None, what="listening")
        eventually(lambda: first(client) == price, what=f"the first answer, {price}")
        yield client


def test_an_answer_is_reused_until_the_index_applies_something(
    settings: Settings, index: Index
) -> None:
    with answering(settings, index, price=1000, seconds=30) as client:
        assert price_in_search(client) == 1000
        index.write(2000)  # written, its checkpoint not yet recorded
        assert price_of_page(client) == 1000
        assert price_in_search(client) == 1000
        index.checkpoint()  # pushed: every kept answer of the index is out of date
        eventually(lambda: price_of_page(client) == 2000, timeout=10, what="the new page")
        assert price_in_search(client) == 2000


def test_an_answer_is_not_kept_longer_than_its_seconds(settings: Settings, index: Index) -> None:
    with answering(settings, index, price=1000, seconds=0.5, first=price_in_search) as client:
        index.write(3000)  # a change whose checkpoint is never recorded
        time.sleep(0.6)
        assert price_in_search(client) == 3000
        assert price_of_page(client) == 3000


def test_a_reader_waiting_for_its_write_is_never_served_a_kept_answer(
    settings: Settings, index: Index
) -> None:
    with answering(settings, index, price=1000, seconds=30) as client:
        index.write(4000)
        page = client.get(f"/products/{PRODUCT}", params={"after": index.position})
        assert page.json()["price"]["minor"] == 4000


def test_with_zero_seconds_every_read_asks_the_search_server(
    settings: Settings, index: Index
) -> None:
    with answering(settings, index, price=1000, seconds=0) as client:
        index.write(5000)
        assert price_of_page(client) == 5000
        assert price_in_search(client) == 5000
