from __future__ import annotations

import pytest

from read_api.product_queries import (
    InvalidCursor,
    ProductSearch,
    SortOrder,
    decode_cursor,
    encode_cursor,
)


def test_a_text_search_is_typo_tolerant_and_only_shows_active_products() -> None:
    body = ProductSearch(q="hedphones").body()
    (match,) = body["query"]["bool"]["must"]
    words, sku = match["bool"]["should"]
    assert words["multi_match"]["fuzziness"] == "AUTO"
    assert sku == {"term": {"sku": {"value": "HEDPHONES", "boost": 10}}}  # or a SKU
    assert {"term": {"status": "active"}} in body["query"]["bool"]["filter"]


def test_filters_become_exact_terms_and_a_price_range() -> None:
    body = ProductSearch(
        category="audio", brand="Sonora", min_price_minor=100, max_price_minor=500, in_stock=True
    ).body()
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"category": "audio"}} in filters
    assert {"term": {"brand": "Sonora"}} in filters
    assert {"range": {"price_minor": {"gte": 100, "lte": 500}}} in filters
    assert {"term": {"in_stock": True}} in filters


@pytest.mark.parametrize("sort", list(SortOrder))
def test_every_order_ends_with_the_id_so_pages_never_overlap(sort: SortOrder) -> None:
    assert ProductSearch(sort=sort).body()["sort"][-1] == {"id": "asc"}


def test_a_cursor_continues_after_the_last_hit() -> None:
    cursor = encode_cursor([1299, "abc"])
    assert decode_cursor(cursor) == [1299, "abc"]
    assert ProductSearch(cursor=cursor).body()["search_after"] == [1299, "abc"]


@pytest.mark.parametrize("cursor", ["!!!", "e30", "bm90IGpzb24"])
def test_a_forged_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)
