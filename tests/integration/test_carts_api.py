"""The carts command API over a real event store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from commands.carts.application import CartsApplication
from domain.carts import Cart
from domain.orders import order_id_for_cart
from domain.sku import sku_id
from infra import apps
from infra.settings import Settings
from tests.support.answers import assert_created, assert_problem
from tests.support.applications import nothing_appended
from tests.support.auth import as_admin
from tests.support.catalog import a_product, add_products

pytestmark = pytest.mark.integration

CUSTOMER = "6f1c2a4e-8a55-4c1f-9d1e-2b7c4a9e0f11"


SKUS_ON_SALE = ("MUG-1", "TEA-1", "JAM-1")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    add_products(settings, [a_product(sku) for sku in SKUS_ON_SALE])
    with TestClient(apps.command_api(settings), headers=as_admin(settings)) as test_client:
        yield test_client


def a_cart(client: TestClient, **lines: int) -> str:
    response = client.post("/carts", json={"customer_id": CUSTOMER})
    assert response.status_code == 201
    cart_id: str = response.json()["id"]
    for sku, quantity in lines.items():
        added = client.post(
            f"/carts/{cart_id}/items", json={"sku": sku.replace("_", "-"), "quantity": quantity}
        )
        assert added.status_code == 200
    return cart_id


def cart(carts: CartsApplication, cart_id: str) -> Cart:
    return carts.get_cart(UUID(cart_id))


def test_creating_a_cart_answers_201_with_its_id_and_version(
    client: TestClient, carts: CartsApplication
) -> None:
    response = client.post("/carts", json={"customer_id": CUSTOMER})

    body = assert_created(response, carts, "/carts")
    assert str(cart(carts, body["id"]).customer_id) == CUSTOMER


def test_the_same_idempotency_key_makes_one_cart(
    client: TestClient, carts: CartsApplication
) -> None:
    headers = {"Idempotency-Key": "cart-of-customer-1"}

    first = client.post("/carts", json={"customer_id": CUSTOMER}, headers=headers)
    with nothing_appended(carts):
        again = client.post("/carts", json={"customer_id": CUSTOMER}, headers=headers)
        other = client.post("/carts", json={"customer_id": str(uuid4())}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


def test_items_are_added_changed_removed_and_cleared(
    client: TestClient, carts: CartsApplication
) -> None:
    cart_id = a_cart(client, MUG_1=2, TEA_1=1)

    added = client.post(f"/carts/{cart_id}/items", json={"sku": "MUG-1", "quantity": 3})
    changed = client.put(f"/carts/{cart_id}/items/TEA-1", json={"quantity": 4})
    assert cart(carts, cart_id).lines == {"MUG-1": 5, "TEA-1": 4}
    removed = client.delete(f"/carts/{cart_id}/items/MUG-1")
    assert cart(carts, cart_id).lines == {"TEA-1": 4}
    cleared = client.post(f"/carts/{cart_id}/clear")

    assert [r.status_code for r in (added, changed, removed, cleared)] == [200] * 4
    assert cleared.json()["version"] == 7
    assert cleared.headers["etag"] == '"7"'
    assert cart(carts, cart_id).lines == {}


def test_checking_out_answers_with_what_the_order_needs(client: TestClient) -> None:
    cart_id = a_cart(client, MUG_1=2, TEA_1=1)

    response = client.post(f"/carts/{cart_id}/checkout")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["version"], body["customer_id"]) == (cart_id, 4, CUSTOMER)
    assert body["lines"] == [{"sku": "MUG-1", "quantity": 2}, {"sku": "TEA-1", "quantity": 1}]
    # The order the saga places for the cart (ADR 0025), named before it exists.
    assert body["order_id"] == str(order_id_for_cart(UUID(cart_id)))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/items", {"sku": "JAM-1", "quantity": 1}),
        ("PUT", "/items/MUG-1", {"quantity": 3}),
        ("DELETE", "/items/MUG-1", None),
        ("POST", "/clear", None),
        ("POST", "/checkout", None),
    ],
)
def test_a_checked_out_cart_accepts_no_changes(
    client: TestClient, carts: CartsApplication, method: str, path: str, body: Any
) -> None:
    cart_id = a_cart(client, MUG_1=2)
    assert client.post(f"/carts/{cart_id}/checkout").status_code == 200

    with nothing_appended(carts):
        response = client.request(method, f"/carts/{cart_id}{path}", json=body)

    assert_problem(response, 409, "cart_checked_out")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/items", {"sku": "MUG-1", "quantity": 1, "price": "9.99"}, "body.price"),
        (
            "/items",
            {"sku": "MUG-1", "quantity": 1, "unit_price": {"amount": "1", "currency": "EUR"}},
            "body.unit_price",
        ),
        ("/items", {"sku": "MUG-1", "quantity": 0}, "body.quantity"),
        ("/items", {"sku": "MUG-1", "quantity": 100}, "body.quantity"),
        ("/items", {"sku": "MUG-1", "quantity": "2"}, "body.quantity"),
        ("/items", {"sku": "MUG-1", "quantity": 1.5}, "body.quantity"),
        ("/items", {"sku": "mug one", "quantity": 1}, "body.sku"),
        ("/items", {"quantity": 1}, "body.sku"),
    ],
)
def test_invalid_items_get_a_problem_naming_the_field_and_append_nothing(
    client: TestClient, carts: CartsApplication, path: str, body: Any, field: str
) -> None:
    cart_id = a_cart(client)

    with nothing_appended(carts):
        response = client.post(f"/carts/{cart_id}{path}", json=body)

    assert_problem(response, 422, field=field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.customer_id"),
        ({"customer_id": "someone"}, "body.customer_id"),
        ({"customer_id": CUSTOMER, "lines": []}, "body.lines"),
    ],
)
def test_invalid_carts_are_refused(
    client: TestClient, carts: CartsApplication, body: Any, field: str
) -> None:
    with nothing_appended(carts):
        response = client.post("/carts", json=body)

    assert_problem(response, 422, field=field)


def test_a_line_that_would_pass_99_units_is_refused(client: TestClient) -> None:
    cart_id = a_cart(client, MUG_1=90)

    response = client.post(f"/carts/{cart_id}/items", json={"sku": "MUG-1", "quantity": 10})

    assert (response.status_code, response.json()["code"]) == (422, "quantity_out_of_range")


def test_an_empty_cart_cannot_be_checked_out(client: TestClient) -> None:
    response = client.post(f"/carts/{a_cart(client)}/checkout")

    assert (response.status_code, response.json()["code"]) == (422, "cart_empty")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/items"), ("PUT", "/items/MUG-1"), ("POST", "/checkout"), ("POST", "/clear")],
)
def test_an_unknown_cart_is_not_found(client: TestClient, method: str, path: str) -> None:
    body = {"sku": "MUG-1", "quantity": 1} if path == "/items" else {"quantity": 1}

    response = client.request(method, f"/carts/{uuid4()}{path}", json=body)

    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_a_line_the_cart_does_not_have_is_not_found(client: TestClient) -> None:
    cart_id = a_cart(client, MUG_1=1)

    changed = client.put(f"/carts/{cart_id}/items/TEA-1", json={"quantity": 2})
    removed = client.delete(f"/carts/{cart_id}/items/TEA-1")

    assert (changed.status_code, changed.json()["code"]) == (404, "cart_line_not_found")
    assert (removed.status_code, removed.json()["code"]) == (404, "cart_line_not_found")


def test_a_change_with_a_stale_if_match_is_a_conflict(
    client: TestClient, carts: CartsApplication
) -> None:
    cart_id = a_cart(client)
    item = {"sku": "MUG-1", "quantity": 1}

    first = client.post(f"/carts/{cart_id}/items", json=item, headers={"If-Match": '"1"'})
    with nothing_appended(carts):
        stale = client.post(f"/carts/{cart_id}/items", json=item, headers={"If-Match": '"1"'})
        stale_checkout = client.post(f"/carts/{cart_id}/checkout", headers={"If-Match": '"1"'})

    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    assert (stale.status_code, stale.json()["code"]) == (409, "version_conflict")
    assert (stale_checkout.status_code, stale_checkout.json()["code"]) == (409, "version_conflict")
    assert cart(carts, cart_id).lines == {"MUG-1": 1}


def test_a_cart_refuses_a_sku_no_product_has_and_appends_nothing(
    client: TestClient, carts: CartsApplication
) -> None:
    cart_id = a_cart(client)

    with nothing_appended(carts):
        response = client.post(f"/carts/{cart_id}/items", json={"sku": "NO-SUCH-1", "quantity": 1})

    problem = assert_problem(response, 422, "unknown_sku")
    assert "NO-SUCH-1" in problem["detail"]
    assert cart(carts, cart_id).lines == {}


def test_a_cart_refuses_a_discontinued_product_and_takes_it_back_when_reinstated(
    client: TestClient, carts: CartsApplication
) -> None:
    cart_id = a_cart(client)
    mug = sku_id("MUG-1")
    off = client.post(f"/products/{mug}/discontinue", json={"reason": "no longer made"})
    assert off.status_code == 200, off.json()

    refused = client.post(f"/carts/{cart_id}/items", json={"sku": "MUG-1", "quantity": 1})
    assert_problem(refused, 409, "product_discontinued")

    assert client.post(f"/products/{mug}/reinstate").status_code == 200
    added = client.post(f"/carts/{cart_id}/items", json={"sku": "MUG-1", "quantity": 1})
    assert added.status_code == 200, added.json()
    assert cart(carts, cart_id).lines == {"MUG-1": 1}
