"""Product search as Elasticsearch queries: pure functions, testable without a server."""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from read_api.money import money


class SortOrder(StrEnum):
    RELEVANCE = "relevance"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    NEWEST = "newest"


_SORTS: dict[SortOrder, list[Any]] = {
    SortOrder.RELEVANCE: ["_score", {"created_at": "desc"}],
    SortOrder.PRICE_ASC: [{"price_minor": "asc"}],
    SortOrder.PRICE_DESC: [{"price_minor": "desc"}],
    SortOrder.NEWEST: [{"created_at": "desc"}],
}


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class ProductSearch:
    q: str | None = None
    category: str | None = None
    brand: str | None = None
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    in_stock: bool | None = None
    sort: SortOrder = SortOrder.RELEVANCE
    size: int = 20
    cursor: str | None = None

    def body(self) -> dict[str, Any]:
        must: list[dict[str, Any]] = []
        if self.q:
            words = {
                "multi_match": {
                    "query": self.q,
                    "fields": ["name^3", "brand.text^2", "category.text", "description"],
                    "fuzziness": "AUTO",
                }
            }
            # A SKU typed into the search box finds its product first.
            sku = {"term": {"sku": {"value": self.q.strip().upper(), "boost": 10}}}
            must.append({"bool": {"should": [words, sku], "minimum_should_match": 1}})
        filters: list[dict[str, Any]] = [{"term": {"status": "active"}}]
        if self.category:
            filters.append({"term": {"category": self.category}})
        if self.brand:
            filters.append({"term": {"brand": self.brand}})
        price: dict[str, int] = {}
        if self.min_price_minor is not None:
            price["gte"] = self.min_price_minor
        if self.max_price_minor is not None:
            price["lte"] = self.max_price_minor
        if price:
            filters.append({"range": {"price_minor": price}})
        if self.in_stock is not None:
            filters.append({"term": {"in_stock": self.in_stock}})
        body: dict[str, Any] = {
            "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters}},
            # The id as the last sort key makes the order total, which search_after needs.
            "sort": [*_SORTS[self.sort], {"id": "asc"}],
            "size": self.size,
            "track_total_hits": True,
            "aggs": {
                "category": {"terms": {"field": "category", "size": 50}},
                "brand": {"terms": {"field": "brand", "size": 50}},
            },
        }
        if self.cursor:
            body["search_after"] = decode_cursor(self.cursor)
        return body


def encode_cursor(sort_values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(sort_values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, RecursionError) as e:
        raise InvalidCursor("cursor is not one this API issued") from e
    # What this API issues: a few sort values, each a string or a number Elasticsearch takes.
    if not isinstance(values, list) or not 1 <= len(values) <= 4 or not all(map(_scalar, values)):
        raise InvalidCursor("cursor is not one this API issued")
    return values


def _scalar(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= 512


def present(hit: dict[str, Any]) -> dict[str, Any]:
    """A product document as the API shows it."""
    source = hit["_source"]
    return {
        "id": source["id"],
        "sku": source.get("sku"),
        "name": source.get("name"),
        "description": source.get("description"),
        "brand": source.get("brand"),
        "category": source.get("category"),
        "price": money(source.get("price_minor"), source.get("currency")),
        "status": source.get("status"),
        "in_stock": source.get("in_stock"),
        "version": source.get("versions", {}),
        "updated_at": source.get("updated_at"),
    }
