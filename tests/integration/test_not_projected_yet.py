"""Right after a command, before its read model has it (issue 15, point 5): the read API's
404 says the write may not be projected yet and suggests `after=`; asked with `after=`, it
says how far the read model is and to retry. The code is `not_found`, as on the command API.
No projector runs here, so nothing the commands write is ever projected."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from infra.settings import Settings
from tests.support.auth import as_customer
from tests.support.bodies import product_json

pytestmark = pytest.mark.integration


def test_a_cart_just_opened_is_a_404_that_suggests_after_then_says_how_far_it_is(
    client: TestClient, read: TestClient, settings: Settings
) -> None:
    customer = uuid4()
    opened = client.post("/carts", json={"customer_id": str(customer)})
    assert opened.status_code == 201, opened.json()
    cart_id, position = opened.json()["id"], opened.json()["position"]
    headers = as_customer(settings, customer)

    plain = read.get(f"/carts/{cart_id}", headers=headers)
    assert plain.status_code == 404
    assert plain.headers["content-type"] == "application/problem+json"
    assert plain.json()["code"] == "not_found"
    assert "if you just wrote it, pass after=" in plain.json()["detail"]

    waited = read.get(f"/carts/{cart_id}", params={"after": position}, headers=headers)
    assert waited.status_code == 404
    assert waited.headers["shop-stale"] == "true"
    assert waited.json()["detail"].endswith(f"not yet {position}; retry with after={position}")
    assert "is not in the read model yet" in waited.json()["detail"]

    on_command_api = client.post(f"/carts/{uuid4()}/clear")
    assert on_command_api.status_code == 404
    assert on_command_api.json()["code"] == plain.json()["code"]


def test_a_product_just_added_is_a_404_that_says_the_index_has_not_applied_it(
    client: TestClient, read: TestClient
) -> None:
    added = client.post("/products", json=product_json("NEW-1", "New", "1.00"))
    assert added.status_code == 201, added.json()
    position = added.json()["position"]

    plain = read.get("/products/NEW-1")
    assert (plain.status_code, plain.json()["code"]) == (404, "not_found")
    assert "pass after=" in plain.json()["detail"]
    waited = read.get("/products/NEW-1", params={"after": position})
    assert waited.status_code == 404
    assert "is not in the search index yet" in waited.json()["detail"]
    assert f"retry with after={position}" in waited.json()["detail"]


def test_an_order_just_placed_is_a_404_that_says_the_history_is_behind(
    client: TestClient, read: TestClient
) -> None:
    line = {"sku": "ANY-1", "quantity": 1, "unit_price": {"amount": "1.00", "currency": "EUR"}}
    order = {"customer_id": str(uuid4()), "cart_id": str(uuid4()), "lines": [line]}
    placed = client.post("/orders", json=order)
    assert placed.status_code == 201, placed.json()
    order_id, position = placed.json()["id"], placed.json()["position"]

    waited = read.get(f"/orders/{order_id}", params={"after": position}, headers=client.headers)
    assert (waited.status_code, waited.json()["code"]) == (404, "not_found")
    assert "is not in the order history yet" in waited.json()["detail"]
    assert f"retry with after={position}" in waited.json()["detail"]
