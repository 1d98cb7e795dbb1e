"""Product search through the read API over a real search server: filters, facets, sorting,
and pagination that stays correct past 10,000 results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers
from fastapi.testclient import TestClient

from infra.settings import Settings
from tests.support.apis import in_process
from tests.support.search import ensure_product_index

pytestmark = pytest.mark.integration
TOTAL = 10_050
BRANDS = ("Sonora", "Keyforge", "Morning")


def document(i: int) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-0000-0000-{i:012d}",
        "sku": f"P-{i}",
        "name": f"Lamp {i}",
        "description": "a lamp",
        "brand": BRANDS[i % 3],
        "category": "home",
        "price_minor": 1000 + (i * 7919) % 5000,
        "currency": "EUR",
        "status": "active",
        "in_stock": i % 2 == 0,
        "created_at": "2026-11-01T00:00:00+00:00",
        "updated_at": "2026-11-01T00:00:00+00:00",
        "versions": {"catalog": 1},
    }


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    ensure_product_index(settings)
    es = Elasticsearch(settings.elasticsearch_url)
    helpers.bulk(
        es,
        (
            {"_index": settings.products_alias, "_id": d["id"], **d}
            for d in map(document, range(TOTAL))
        ),
        chunk_size=2000,
        refresh=True,
    )
    es.close()
    yield from in_process(settings, "read", admin=True)


def test_paging_with_the_cursor_visits_every_product_once_in_order(client: TestClient) -> None:
    seen: list[tuple[int, str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "price_asc", "size": 100}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/products/search", params=params).json()
        seen += [(item["price"]["minor"], item["id"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert page["total"] == TOTAL

    assert len(seen) == TOTAL
    assert len({product_id for _, product_id in seen}) == TOTAL
    assert seen == sorted(seen)


def test_filters_and_facets_count_what_matches(client: TestClient) -> None:
    page = client.get(
        "/products/search",
        params={"brand": "Sonora", "in_stock": "true", "min_price": 2000, "max_price": 3000},
    ).json()
    expected = [
        d
        for d in map(document, range(TOTAL))
        if d["brand"] == "Sonora" and d["in_stock"] and 2000 <= d["price_minor"] <= 3000
    ]
    assert page["total"] == len(expected)
    assert page["facets"]["brand"] == [{"value": "Sonora", "count": len(expected)}]
    assert all(2000 <= item["price"]["minor"] <= 3000 for item in page["items"])
