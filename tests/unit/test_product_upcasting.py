"""Reading products back from the event store: events stored in an older shape, and snapshots.

In memory (the eventsourcing POPO recorder) with the catalog's real mapper and transcodings;
tests/integration/test_catalog_api.py does the same against Postgres.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from commands.catalog.application import CatalogApplication
from domain.catalog import Product, ProductDiscontinued, product_id_for
from domain.money import Money
from streams.relay import envelopes

ADDED_TOPIC = "domain.catalog.product:Product.Added"

# ProductAdded as version 1 wrote it: no class_version, no tags.
V1_ADDED_STATE: dict[str, Any] = {
    "timestamp": {"_type_": "datetime_iso", "_data_": "2025-01-02T03:04:05+00:00"},
    "originator_topic": "domain.catalog.product:Product",
    "sku": "OLD-1",
    "name": "Gramophone",
    "description": "Wind-up",
    "brand": "Victor",
    "category": "audio",
    "price": {"_type_": "money", "_data_": {"minor": 12000, "currency": "EUR"}},
}


def in_memory_catalog() -> CatalogApplication:
    return CatalogApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def v1_added(product_id: UUID) -> StoredEvent:
    return StoredEvent(product_id, 1, ADDED_TOPIC, json.dumps(V1_ADDED_STATE).encode())


def a_product(sku: str = "NEW-1", **changes: Any) -> Product:
    fields: dict[str, Any] = {
        "sku": sku,
        "name": "Turntable",
        "description": "Belt drive",
        "brand": "Victor",
        "category": "audio",
        "price": Money(25000, "EUR"),
        **changes,
    }
    return Product(**fields)


def test_new_product_added_events_are_stored_as_version_2_with_tags() -> None:
    catalog = in_memory_catalog()
    product = a_product(tags=["vinyl"])
    catalog.save(product)

    (stored,) = catalog.recorder.select_events(product.id)
    state = json.loads(stored.state)
    assert state["class_version"] == 2
    assert state["tags"] == ["vinyl"]


def test_a_version_1_product_added_is_read_as_version_2_without_tags() -> None:
    catalog = in_memory_catalog()
    product_id = product_id_for("OLD-1")
    catalog.recorder.insert_events([v1_added(product_id)])

    product = catalog.get_product(product_id)

    assert (product.sku, product.name, product.price) == (
        "OLD-1",
        "Gramophone",
        Money(12000, "EUR"),
    )
    assert product.tags == []
    (added,) = catalog.events.get(product_id)
    assert isinstance(added, Product.Added)
    assert added.tags == []


def test_an_upcast_product_takes_new_commands_and_stores_them_in_the_current_shape() -> None:
    catalog = in_memory_catalog()
    product_id = product_id_for("OLD-1")
    catalog.recorder.insert_events([v1_added(product_id)])

    catalog.rename(product_id, "Gramophone (restored)")

    assert catalog.get_product(product_id).version == 2
    assert catalog.get_product(product_id).name == "Gramophone (restored)"


def test_the_bus_sees_a_version_1_event_in_the_current_shape() -> None:
    catalog = in_memory_catalog()
    catalog.recorder.insert_events([v1_added(product_id_for("OLD-1"))])

    (envelope,) = envelopes(catalog, catalog.recorder.select_notifications(start=1, limit=10))

    assert envelope.type == "catalog.ProductAdded"
    assert envelope.payload["tags"] == []
    assert envelope.payload["price"] == {"minor": 12000, "currency": "EUR"}


def popular_product(catalog: CatalogApplication) -> Product:
    """A product saved once per change until its 100th event, its discontinuation."""
    product = a_product("HOT-1")
    catalog.save(product)
    for minor in range(1, 99):
        product.change_price(Money(minor * 100, "EUR"))
        catalog.save(product)
    product.discontinue("sold out for the season")
    catalog.save(product)
    assert product.version == 100
    return product


def test_a_popular_product_is_snapshotted_every_100_events() -> None:
    catalog = in_memory_catalog()
    product = popular_product(catalog)
    assert catalog.snapshots is not None

    (snapshot,) = catalog.snapshots.get(product.id)

    assert snapshot.originator_version == 100


def test_a_product_is_rebuilt_from_its_snapshot_and_the_events_after_it() -> None:
    catalog = in_memory_catalog()
    product = popular_product(catalog)
    catalog.reinstate(product.id)
    assert catalog.snapshots is not None
    # A store holding only the snapshot and the one event after it: no earlier event to replay.
    trimmed = in_memory_catalog()
    assert trimmed.snapshots is not None
    trimmed.snapshots.recorder.insert_events(
        list(catalog.snapshots.recorder.select_events(product.id))
    )
    trimmed.recorder.insert_events(list(catalog.recorder.select_events(product.id, gt=100)))

    rebuilt = trimmed.get_product(product.id)

    assert rebuilt.version == 101
    assert (rebuilt.price, rebuilt.status) == (Money(9800, "EUR"), "active")


def test_a_discontinued_product_restored_from_a_snapshot_still_refuses_price_changes() -> None:
    catalog = in_memory_catalog()
    product = popular_product(catalog)
    assert catalog.snapshots is not None
    trimmed = in_memory_catalog()
    assert trimmed.snapshots is not None
    trimmed.snapshots.recorder.insert_events(
        list(catalog.snapshots.recorder.select_events(product.id))
    )

    with pytest.raises(ProductDiscontinued):
        trimmed.change_price(product.id, Money(1, "EUR"))
