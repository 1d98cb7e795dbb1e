"""The command API over a real event store: bad input is refused and appends nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from commands.catalog.application import CatalogApplication
from tests.support.answers import assert_created, assert_problem
from tests.support.applications import nothing_appended

pytestmark = pytest.mark.integration

LAMP: dict[str, Any] = {
    "sku": "LMP-0001",
    "name": "Desk Lamp",
    "description": "Warm white LED",
    "brand": "Lumen",
    "category": "home",
    "price": {"amount": "34.90", "currency": "EUR"},
}


def with_(**changes: Any) -> dict[str, Any]:
    return {**LAMP, **changes}


def without(field: str) -> dict[str, Any]:
    return {k: v for k, v in LAMP.items() if k != field}


def test_adding_a_product_answers_with_its_id_version_and_position(
    client: TestClient, catalog: CatalogApplication
) -> None:
    response = client.post("/products", json=LAMP)

    assert_created(response, catalog, "/products")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (without("name"), "body.name"),
        (without("price"), "body.price"),
        (with_(price={"amount": "-1.00", "currency": "EUR"}), "body.price.amount"),
        (with_(price={"amount": "1.001", "currency": "EUR"}), "body.price"),
        (with_(price={"amount": "1.00", "currency": "euro"}), "body.price.currency"),
        (with_(price={"amount": True, "currency": "EUR"}), "body.price.amount"),
        (with_(name=123), "body.name"),
        (with_(name=""), "body.name"),
        (with_(sku="lower case"), "body.sku"),
        (with_(brand=["x"]), "body.brand"),
        (with_(status="discontinued"), "body.status"),
        ([LAMP], "body"),
    ],
)
def test_invalid_products_get_a_problem_naming_the_field_and_append_nothing(
    client: TestClient, catalog: CatalogApplication, body: Any, field: str
) -> None:
    with nothing_appended(catalog):
        response = client.post("/products", json=body)

    assert_problem(response, 422, "validation_failed", field=field)


def test_a_body_that_is_not_json_is_refused(
    client: TestClient, catalog: CatalogApplication
) -> None:
    with nothing_appended(catalog):
        response = client.post(
            "/products", content=b"{sku: nope", headers={"content-type": "application/json"}
        )
    assert_problem(response, 422, "validation_failed")


def test_a_one_megabyte_body_is_refused_before_it_is_read(
    client: TestClient, catalog: CatalogApplication
) -> None:
    huge = json.dumps(with_(description="x" * 1_000_000))

    with nothing_appended(catalog):
        response = client.post(
            "/products", content=huge, headers={"content-type": "application/json"}
        )

    assert_problem(response, 413, "body_too_large")


def test_the_same_sku_twice_is_a_conflict(client: TestClient, catalog: CatalogApplication) -> None:
    assert client.post("/products", json=LAMP).status_code == 201

    with nothing_appended(catalog):
        response = client.post("/products", json=with_(name="Another Lamp"))

    assert_problem(response, 409, "already_exists")


def test_changing_a_price_with_a_stale_version_is_a_conflict(client: TestClient) -> None:
    product_id = client.post("/products", json=LAMP).json()["id"]
    new_price = {"price": {"amount": "29.90", "currency": "EUR"}}

    first = client.post(
        f"/products/{product_id}/price", json=new_price, headers={"If-Match": '"1"'}
    )
    stale = client.post(
        f"/products/{product_id}/price",
        json={"price": {"amount": "19.90", "currency": "EUR"}},
        headers={"If-Match": '"1"'},
    )

    assert first.status_code == 200
    assert first.json()["version"] == 2
    assert_problem(stale, 409, "version_conflict")


def test_changing_the_price_of_an_unknown_product_is_not_found(client: TestClient) -> None:
    response = client.post(
        "/products/7d9f1c9e-59a4-4cbb-9d8e-0f7b0c6a3a11/price",
        json={"price": {"amount": "1.00", "currency": "EUR"}},
    )
    assert_problem(response, 404, "not_found")


def test_an_id_that_is_not_a_uuid_is_a_validation_problem(client: TestClient) -> None:
    response = client.post(
        "/products/not-a-uuid/price", json={"price": {"amount": "1.00", "currency": "EUR"}}
    )
    assert response.status_code == 422


def test_health_and_readiness_answer(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert "/products" in client.get("/openapi.json").json()["paths"]
