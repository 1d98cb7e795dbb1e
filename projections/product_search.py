"""The product search document: pure folding of envelopes into one document per product.

A product document is fed by two contexts: catalog data, and stock availability from the
inventory's stock item of the same SKU (which shares the product's id, ADR 0009). It keeps one
version per source context and applies an event only if it is newer than what the document
holds from that context.
"""

from __future__ import annotations

from typing import Any

from contract.envelope import Envelope

Document = dict[str, Any]
SOURCES = ("catalog", "inventory")


def apply(document: Document | None, envelope: Envelope) -> Document | None:
    """The document after ``envelope``, or None when the event changes nothing.

    Idempotent: an event at or below the version already held from its context is
    a duplicate (redelivery, replay) and is ignored.
    """
    versions: dict[str, int] = dict((document or {}).get("versions", {}))
    if versions.get(envelope.context, 0) >= envelope.aggregate_version:
        return None
    new = dict(document or {"id": envelope.aggregate_id})
    if envelope.context == "inventory":
        new.update(_stock(new.get("stock"), envelope))
    else:
        new.update(_fields(envelope))
    versions[envelope.context] = envelope.aggregate_version
    new["versions"] = versions
    return new


def _fields(envelope: Envelope) -> Document:
    payload = envelope.payload
    match envelope.type:
        case "catalog.ProductAdded":
            return {
                "sku": payload["sku"],
                "name": payload["name"],
                "description": payload["description"],
                "brand": payload["brand"],
                "category": payload["category"],
                **_price(payload["price"]),
                "status": "active",
                "created_at": envelope.occurred_at,
                "updated_at": envelope.occurred_at,
            }
        case "catalog.ProductPriceChanged":
            return {**_price(payload["price"]), "updated_at": envelope.occurred_at}
        case "catalog.ProductRenamed":
            return {"name": payload["name"], "updated_at": envelope.occurred_at}
        case "catalog.ProductDescribed":
            return {"description": payload["description"], "updated_at": envelope.occurred_at}
        case "catalog.ProductRecategorised":
            return {
                "category": payload["category"],
                "brand": payload["brand"],
                "updated_at": envelope.occurred_at,
            }
        case "catalog.ProductDiscontinued":
            return {"status": "discontinued", "updated_at": envelope.occurred_at}
        case "catalog.ProductReinstated":
            return {"status": "active", "updated_at": envelope.occurred_at}
        case _:  # an event this view does not show still advances the version
            return {}


def _stock(stock: dict[str, int] | None, envelope: Envelope) -> Document:
    """Units per state, mirroring the StockItem: available = on hand - reserved."""
    on_hand, reserved = (stock or {}).get("on_hand", 0), (stock or {}).get("reserved", 0)
    payload = envelope.payload
    match envelope.type:
        case "inventory.StockItemReceived":
            on_hand += int(payload["quantity"])
        case "inventory.StockItemAdjusted":
            on_hand += int(payload["change"])
        case "inventory.StockItemReserved":
            reserved += int(payload["quantity"])
        case "inventory.StockItemReleased" | "inventory.StockItemReservationExpired":
            reserved -= int(payload["quantity"])
        case "inventory.StockItemCommitted":
            reserved -= int(payload["quantity"])
            on_hand -= int(payload["quantity"])
    available = on_hand - reserved
    return {
        "stock": {"on_hand": on_hand, "reserved": reserved, "available": available},
        "in_stock": available > 0,
    }


def _price(price: dict[str, Any]) -> Document:
    return {"price_minor": int(price["minor"]), "currency": str(price["currency"])}


PRODUCTS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        "sku": {"type": "keyword"},
        "name": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "description": {"type": "text"},
        "brand": {"type": "keyword", "fields": {"text": {"type": "text"}}},
        "category": {"type": "keyword", "fields": {"text": {"type": "text"}}},
        "price_minor": {"type": "long"},
        "currency": {"type": "keyword"},
        "status": {"type": "keyword"},
        "in_stock": {"type": "boolean"},
        "stock": {
            "properties": {
                "on_hand": {"type": "long"},
                "reserved": {"type": "long"},
                "available": {"type": "long"},
            }
        },
        "created_at": {"type": "date"},
        "updated_at": {"type": "date"},
        "versions": {"properties": {source: {"type": "long"} for source in SOURCES}},
    },
}
