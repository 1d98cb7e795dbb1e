"""The orders command API over a real event store: an order only ever moves forward."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from commands.orders.application import OrdersApplication
from domain.money import Money
from domain.orders import Order, OrderStatus
from tests.support.answers import assert_created, assert_problem
from tests.support.applications import nothing_appended

pytestmark = [pytest.mark.integration, pytest.mark.shared_namespace]

ORDER: dict[str, Any] = {
    "customer_id": "2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9a01",
    "cart_id": "9b8f4c2a-7d1e-4a5b-8c3d-2e1f0a9b8c01",
    "lines": [
        {"sku": "HP-1000", "quantity": 2, "unit_price": {"amount": "19.99", "currency": "EUR"}},
        {"sku": "LMP-0001", "quantity": 1, "unit_price": {"amount": "34.90", "currency": "EUR"}},
    ],
}  # total 74.88 EUR
UNKNOWN = "7d9f1c9e-59a4-4cbb-9d8e-0f7b0c6a3a11"


def with_(**changes: Any) -> dict[str, Any]:
    return {**ORDER, **changes}


def line(sku: str = "HP-1000", quantity: Any = 1, amount: Any = "1.00", currency: str = "EUR"):
    return {
        "sku": sku,
        "quantity": quantity,
        "unit_price": {"amount": amount, "currency": currency},
    }


def place(client: TestClient) -> UUID:
    response = client.post("/orders", json=ORDER)
    assert response.status_code == 201, response.text
    return UUID(response.json()["id"])


def confirmed(client: TestClient) -> UUID:
    order_id = place(client)
    for path, body in [
        ("stock-reserved", None),
        ("payment-authorized", {"payment_id": str(uuid4())}),
        ("confirm", None),
    ]:
        assert client.post(f"/orders/{order_id}/{path}", json=body).status_code == 200
    return order_id


def test_placing_an_order_answers_201_with_its_id_version_and_total_fixed(
    client: TestClient, orders: OrdersApplication
) -> None:
    response = client.post("/orders", json=ORDER)

    body = assert_created(response, orders, "/orders")
    order = orders.get_order(UUID(body["id"]))
    assert order.total == Money(7488, "EUR")
    assert order.status is OrderStatus.PLACED


def test_the_same_idempotency_key_places_one_order_and_answers_the_same(
    client: TestClient, orders: OrdersApplication
) -> None:
    headers = {"Idempotency-Key": "place-order-0001"}

    first = client.post("/orders", json=ORDER, headers=headers)
    with nothing_appended(orders):
        again = client.post("/orders", json=ORDER, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert first.json()["id"] == str(orders.idempotent_id("place-order-0001"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (with_(lines=[]), "body.lines"),
        ({k: v for k, v in ORDER.items() if k != "lines"}, "body.lines"),
        (with_(lines=[line(quantity=0)]), "body.lines.0.quantity"),
        (with_(lines=[line(quantity=100)]), "body.lines.0.quantity"),
        (with_(lines=[line(quantity="2")]), "body.lines.0.quantity"),
        (with_(lines=[line(amount="-1.00")]), "body.lines.0.unit_price.amount"),
        (with_(lines=[line(amount="1.001")]), "body.lines.0.unit_price"),
        (with_(lines=[line(amount=True)]), "body.lines.0.unit_price.amount"),
        (with_(lines=[line(sku="lower")]), "body.lines.0.sku"),
        (with_(lines=[line(), line(sku="X-2", currency="USD")]), "body.lines"),
        (with_(lines=[line(), line()]), "body.lines"),
        (with_(customer_id="not-a-uuid"), "body.customer_id"),
        (with_(total={"amount": "1.00", "currency": "EUR"}), "body.total"),
        ([ORDER], "body"),
    ],
)
def test_invalid_orders_get_a_problem_naming_the_field_and_append_nothing(
    client: TestClient, orders: OrdersApplication, body: Any, field: str
) -> None:
    with nothing_appended(orders):
        response = client.post("/orders", json=body)

    assert_problem(response, 422, "validation_failed", field=field)


def test_an_order_goes_from_placed_to_delivered_one_step_at_a_time(
    client: TestClient, orders: OrdersApplication
) -> None:
    order_id = confirmed(client)

    shipped = client.post(f"/orders/{order_id}/ship")
    delivered = client.post(f"/orders/{order_id}/deliver", headers={"If-Match": '"5"'})

    assert (shipped.status_code, delivered.status_code) == (200, 200)
    assert delivered.json()["version"] == 6
    assert delivered.headers["etag"] == '"6"'
    assert orders.get_order(order_id).status is OrderStatus.DELIVERED


def test_skipping_a_step_is_a_409_naming_from_and_to(
    client: TestClient, orders: OrdersApplication
) -> None:
    order_id = place(client)

    with nothing_appended(orders):
        response = client.post(f"/orders/{order_id}/ship")

    problem = assert_problem(response, 409, "illegal_transition")
    assert "from placed to shipped" in problem["detail"]


def test_a_shipped_order_cannot_be_cancelled(client: TestClient) -> None:
    order_id = confirmed(client)
    client.post(f"/orders/{order_id}/ship")

    response = client.post(f"/orders/{order_id}/cancel", json={"reason": "too late"})

    assert response.status_code == 409
    assert "from shipped to cancelled" in response.json()["detail"]


def test_cancelling_records_the_reason(client: TestClient, orders: OrdersApplication) -> None:
    order_id = place(client)

    response = client.post(f"/orders/{order_id}/cancel", json={"reason": "out of stock"})

    assert response.status_code == 200
    order = orders.get_order(order_id)
    assert (order.status, order.cancellation_reason) == (OrderStatus.CANCELLED, "out of stock")


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": 5}, None])
def test_a_cancellation_needs_a_reason(client: TestClient, body: Any) -> None:
    order_id = place(client)

    response = client.post(f"/orders/{order_id}/cancel", json=body)

    assert response.status_code == 422


def test_a_step_on_an_unknown_order_is_not_found(client: TestClient) -> None:
    for path, body in [("confirm", None), ("cancel", {"reason": "x"})]:
        response = client.post(f"/orders/{UNKNOWN}/{path}", json=body)
        assert_problem(response, 404, "not_found")


def test_a_stale_if_match_is_a_conflict(client: TestClient) -> None:
    order_id = place(client)
    client.post(f"/orders/{order_id}/stock-reserved", headers={"If-Match": '"1"'})

    stale = client.post(
        f"/orders/{order_id}/cancel", json={"reason": "changed mind"}, headers={"If-Match": '"1"'}
    )

    assert_problem(stale, 409, "version_conflict")


def test_a_refund_needs_an_idempotency_key(client: TestClient) -> None:
    order_id = confirmed(client)

    response = client.post(
        f"/orders/{order_id}/refunds", json={"amount": {"amount": "10.00", "currency": "EUR"}}
    )

    assert_problem(response, 428, "idempotency_key_required")


def test_the_same_refund_sent_twice_is_recorded_once(
    client: TestClient, orders: OrdersApplication
) -> None:
    order_id = confirmed(client)
    refund = {"amount": {"amount": "10.00", "currency": "EUR"}}
    headers = {"Idempotency-Key": "refund-0000001"}

    first = client.post(f"/orders/{order_id}/refunds", json=refund, headers=headers)
    again = client.post(f"/orders/{order_id}/refunds", json=refund, headers=headers)

    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json() == again.json()
    order = orders.get_order(order_id)
    assert [p["amount"] for p in order.pending_refunds.values()] == [Money(1000, "EUR")]
    events = [type(e) for e in orders.repository.event_store.get(order.id)]
    assert events[-1] is Order.RefundRequested
    assert order.version == 5


def test_refund_requests_never_add_up_to_more_than_the_total(
    client: TestClient, orders: OrdersApplication
) -> None:
    order_id = confirmed(client)

    def refund(key: str, amount: str) -> Any:
        return client.post(
            f"/orders/{order_id}/refunds",
            json={"amount": {"amount": amount, "currency": "EUR"}},
            headers={"Idempotency-Key": key},
        )

    assert refund("refund-part-1", "70.00").status_code == 202
    too_much = refund("refund-part-2", "4.89")
    rest = refund("refund-part-3", "4.88")

    assert_problem(too_much, 422, "refund_exceeds_total")
    assert rest.status_code == 202
    order = orders.get_order(order_id)
    assert Money(order.pending_minor(), "EUR") == order.total


def test_an_order_not_yet_confirmed_cannot_be_refunded(client: TestClient) -> None:
    order_id = place(client)

    response = client.post(
        f"/orders/{order_id}/refunds",
        json={"amount": {"amount": "1.00", "currency": "EUR"}},
        headers={"Idempotency-Key": "refund-early-1"},
    )

    assert_problem(response, 409, "illegal_transition")
