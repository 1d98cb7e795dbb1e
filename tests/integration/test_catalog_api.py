"""The catalog's listing commands over a real event store: rename, describe, recategorise,
discontinue, reinstate; keyed adds; snapshots and old event shapes in Postgres."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from fastapi.testclient import TestClient

from commands.catalog.application import CatalogApplication
from commands.catalog.models import AddProduct
from domain.catalog import product_id_for
from domain.money import Money
from infra import apps, bootstrap
from infra.settings import Settings
from tests.support.applications import head
from tests.support.auth import as_admin

pytestmark = pytest.mark.integration

UNKNOWN = "7d9f1c9e-59a4-4cbb-9d8e-0f7b0c6a3a11"
KETTLE: dict[str, Any] = {
    "sku": "KTL-0001",
    "name": "Kettle",
    "description": "1.7 l, steel",
    "brand": "Boil",
    "category": "kitchen",
    "price": {"amount": "39.00", "currency": "EUR"},
}
# Each listing command: method, path under /products/{id}, a valid body.
COMMANDS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("PUT", "name", {"name": "Travel Kettle"}),
    ("PUT", "description", {"description": "0.5 l, folds flat"}),
    ("PUT", "category", {"category": "travel"}),
    ("POST", "discontinue", {"reason": "recalled"}),
    ("POST", "reinstate", None),
]
COMMAND_IDS = [path for _, path, _ in COMMANDS]


def a_kettle(client: TestClient) -> str:
    response = client.post("/products", json=KETTLE)
    assert response.status_code == 201, response.json()
    product_id: str = response.json()["id"]
    return product_id


def a_discontinued_kettle(client: TestClient) -> str:
    product_id = a_kettle(client)
    response = client.post(f"/products/{product_id}/discontinue", json={"reason": "recalled"})
    assert response.status_code == 200
    return product_id


def send(
    client: TestClient,
    method: str,
    product_id: str,
    path: str,
    body: Any,
    if_match: str | None = None,
) -> Any:
    headers = {"If-Match": if_match} if if_match else {}
    return client.request(method, f"/products/{product_id}/{path}", json=body, headers=headers)


def test_an_added_product_is_located_at_the_read_api_where_it_listens_by_default(
    client: TestClient, settings: Settings
) -> None:
    assert settings.read_api_public_url is None
    response = client.post("/products", json=KETTLE)
    assert response.status_code == 201, response.json()
    local = f"http://{settings.api_host}:{settings.read_api_port}"
    assert response.headers["location"] == f"{local}/products/{response.json()['id']}"


@pytest.mark.parametrize(
    "public_url", ["https://read.shop.example.com", "https://shop.example.com/read/"]
)
def test_an_added_product_is_located_at_the_read_api_public_url_when_one_is_set(
    settings: Settings, public_url: str
) -> None:
    behind_a_gateway = settings.model_copy(update={"read_api_public_url": public_url})
    api = apps.command_api(behind_a_gateway)
    with TestClient(api, headers=as_admin(behind_a_gateway)) as public:
        response = public.post("/products", json=KETTLE)
    assert response.status_code == 201, response.json()
    location = response.headers["location"]
    assert location == f"{public_url.rstrip('/')}/products/{response.json()['id']}"
    assert f":{settings.read_api_port}" not in location


def test_renaming_answers_with_the_new_version_and_the_product_has_the_new_name(
    client: TestClient, catalog: CatalogApplication
) -> None:
    product_id = a_kettle(client)

    response = send(client, "PUT", product_id, "name", {"name": "Travel Kettle"}, '"1"')

    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["position"] == head(catalog)
    assert response.headers["etag"] == '"2"'
    assert catalog.get_product(UUID(product_id)).name == "Travel Kettle"


def test_describing_and_recategorising_change_the_listing(
    client: TestClient, catalog: CatalogApplication
) -> None:
    product_id = a_kettle(client)

    described = send(client, "PUT", product_id, "description", {"description": ""})
    moved = send(client, "PUT", product_id, "category", {"category": "travel", "brand": "Boil Go"})

    assert (described.json()["version"], moved.json()["version"]) == (2, 3)
    product = catalog.get_product(UUID(product_id))
    assert (product.description, product.category, product.brand) == ("", "travel", "Boil Go")


def test_a_listing_change_that_changes_nothing_appends_nothing(
    client: TestClient, catalog: CatalogApplication
) -> None:
    product_id = a_kettle(client)
    before = head(catalog)

    response = send(client, "PUT", product_id, "name", {"name": "Kettle"})

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert head(catalog) == before


def test_discontinuing_and_reinstating_a_product(
    client: TestClient, catalog: CatalogApplication
) -> None:
    product_id = a_kettle(client)

    off = send(client, "POST", product_id, "discontinue", {"reason": "recalled"}, '"1"')
    back = send(client, "POST", product_id, "reinstate", None, '"2"')

    assert (off.status_code, off.json()["version"]) == (200, 2)
    assert (back.status_code, back.json()["version"]) == (200, 3)
    assert catalog.get_product(UUID(product_id)).status == "active"


@pytest.mark.parametrize(("method", "path", "body"), COMMANDS, ids=COMMAND_IDS)
def test_listing_commands_on_an_unknown_product_are_not_found(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    response = send(client, method, UNKNOWN, path, body)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(("method", "path", "body"), COMMANDS, ids=COMMAND_IDS)
def test_listing_commands_with_a_stale_version_are_a_conflict(
    client: TestClient, catalog: CatalogApplication, method: str, path: str, body: Any
) -> None:
    product_id = a_kettle(client)
    assert (
        client.post(
            f"/products/{product_id}/price", json={"price": {"amount": "35.00", "currency": "EUR"}}
        ).status_code
        == 200
    )
    before = head(catalog)

    response = send(client, method, product_id, path, body, '"1"')

    assert response.status_code == 409
    assert response.json()["code"] == "version_conflict"
    assert head(catalog) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "name", {"name": "Clearance Kettle"}),
        ("PUT", "description", {"description": "Last pieces"}),
        ("PUT", "category", {"category": "outlet"}),
        ("POST", "price", {"price": {"amount": "9.99", "currency": "EUR"}}),
    ],
    ids=["name", "description", "category", "price"],
)
def test_a_discontinued_product_refuses_changes_with_a_conflict(
    client: TestClient, catalog: CatalogApplication, method: str, path: str, body: Any
) -> None:
    product_id = a_discontinued_kettle(client)
    before = head(catalog)

    response = send(client, method, product_id, path, body)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "product_discontinued"
    assert head(catalog) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "name", {"name": ""}, "body.name"),
        ("PUT", "name", {"name": 7}, "body.name"),
        ("PUT", "name", {}, "body.name"),
        ("PUT", "name", {"name": "Kettle", "sku": "X-1"}, "body.sku"),
        ("PUT", "description", {"description": "x" * 5001}, "body.description"),
        ("PUT", "description", {"description": None}, "body.description"),
        ("PUT", "category", {"brand": "Boil"}, "body.category"),
        ("PUT", "category", {"category": "travel", "brand": ""}, "body.brand"),
        ("POST", "discontinue", {}, "body.reason"),
        ("POST", "discontinue", {"reason": "   "}, "body.reason"),
        ("POST", "discontinue", {"reason": "x" * 501}, "body.reason"),
    ],
)
def test_invalid_listing_commands_get_a_problem_naming_the_field_and_append_nothing(
    client: TestClient,
    catalog: CatalogApplication,
    method: str,
    path: str,
    body: Any,
    field: str,
) -> None:
    product_id = a_kettle(client)
    before = head(catalog)

    response = send(client, method, product_id, path, body)

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert head(catalog) == before


def test_a_bad_if_match_or_product_id_is_a_validation_problem(client: TestClient) -> None:
    product_id = a_kettle(client)
    assert send(client, "POST", product_id, "reinstate", None, "soon").status_code == 422
    assert send(client, "POST", "not-a-uuid", "reinstate", None).status_code == 422


def test_a_keyed_add_repeated_returns_the_first_response_and_appends_nothing(
    client: TestClient, catalog: CatalogApplication
) -> None:
    first = client.post("/products", json=KETTLE, headers={"Idempotency-Key": "add-kettle-1"})
    before = head(catalog)

    again = client.post("/products", json=KETTLE, headers={"Idempotency-Key": "add-kettle-1"})

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["etag"] == '"1"'
    assert head(catalog) == before


def test_a_keyed_add_of_a_sku_someone_else_added_is_still_a_conflict(client: TestClient) -> None:
    assert client.post("/products", json=KETTLE).status_code == 201

    response = client.post(
        "/products",
        json={**KETTLE, "name": "Other Kettle"},
        headers={"Idempotency-Key": "add-kettle-2"},
    )

    assert response.status_code == 409
    assert response.json()["code"] == "already_exists"


def test_a_key_reused_for_another_product_is_refused(client: TestClient) -> None:
    headers = {"Idempotency-Key": "add-kettle-3"}
    assert client.post("/products", json=KETTLE, headers=headers).status_code == 201

    response = client.post("/products", json={**KETTLE, "sku": "KTL-0002"}, headers=headers)

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


def test_a_keyed_add_after_a_lost_response_answers_with_the_first_result(
    catalog: CatalogApplication,
) -> None:
    """The same keyed add arriving twice at once: the second collides at the event store."""
    kettle = AddProduct.model_validate(KETTLE).to_listing()
    first = catalog.add_product(kettle, repeat_ok=True)

    assert catalog.add_product(kettle, repeat_ok=True) == first


def test_tags_are_stored_with_the_product(client: TestClient, catalog: CatalogApplication) -> None:
    response = client.post("/products", json={**KETTLE, "tags": ["steel", "1-7l"]})
    assert response.status_code == 201
    assert catalog.get_product(UUID(response.json()["id"])).tags == ["steel", "1-7l"]
    bad = client.post("/products", json={**KETTLE, "sku": "KTL-9", "tags": ["Not A Tag"]})
    assert bad.status_code == 422


def test_a_popular_product_is_snapshotted_in_postgres_and_rebuilt_from_it(
    client: TestClient, catalog: CatalogApplication, settings: Settings
) -> None:
    product_id = UUID(a_kettle(client))
    for cents in range(1, 100):  # versions 2..100
        catalog.change_price(product_id, Money(3900 - cents, "EUR"))
    catalog.rename(product_id, "Popular Kettle")  # version 101
    assert catalog.snapshots is not None

    (snapshot,) = catalog.snapshots.get(product_id)
    fresh = bootstrap.catalog(settings)
    try:
        product = fresh.get_product(product_id)
    finally:
        fresh.close()

    assert snapshot.originator_version == 100
    assert (product.version, product.name, product.price) == (
        101,
        "Popular Kettle",
        Money(3801, "EUR"),
    )


def test_a_version_1_product_added_event_in_postgres_reads_as_version_2(
    client: TestClient, catalog: CatalogApplication
) -> None:
    product_id = product_id_for("OLD-0001")
    state = {
        "timestamp": {"_type_": "datetime_iso", "_data_": "2025-01-02T03:04:05+00:00"},
        "originator_topic": "domain.catalog.product:Product",
        "sku": "OLD-0001",
        "name": "Stovetop Kettle",
        "description": "Whistles",
        "brand": "Boil",
        "category": "kitchen",
        "price": {"_type_": "money", "_data_": {"minor": 2500, "currency": "EUR"}},
    }
    assert catalog.mapper.cipher is not None  # stored events are encrypted (ADR 0021)
    stored = catalog.mapper.cipher.encrypt(json.dumps(state).encode())
    catalog.recorder.insert_events(
        [StoredEvent(product_id, 1, "domain.catalog.product:Product.Added", stored)]
    )

    renamed = send(client, "PUT", str(product_id), "name", {"name": "Whistling Kettle"}, '"1"')

    assert renamed.status_code == 200
    product = catalog.get_product(product_id)
    assert (product.version, product.name, product.tags) == (2, "Whistling Kettle", [])
