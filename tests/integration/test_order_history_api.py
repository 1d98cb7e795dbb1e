"""The order history's read endpoints over the real Postgres: a customer's orders page by
page, an order's timeline, 404 and 422 problems, and reading after a position."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from commands.orders.application import OrdersApplication
from infra.settings import Settings
from tests.support.order_history import (
    ALICE,
    BOB,
    a_few_orders,
    applied_up_to,
    order_history_api,
    project,
    the_log,
)
from tests.support.orders import place
from tests.support.problems import assert_a_422_naming

# Split from test_order_history.py, whose tests tests/conftest.py (LONGEST_FIRST) marks slow.
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def read_api(settings: Settings) -> Iterator[TestClient]:
    with order_history_api(settings) as client:
        yield client


def test_a_customer_sees_their_orders_newest_first_page_by_page(
    settings: Settings, orders: OrdersApplication, read_api: TestClient
) -> None:
    ids = a_few_orders(orders)
    project(settings, the_log(orders))

    first = read_api.get(f"/customers/{ALICE}/orders", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [o["id"] for o in page["items"]] == [str(ids["placed"]), str(ids["cancelled"])]
    assert page["next_cursor"]
    second = read_api.get(
        f"/customers/{ALICE}/orders", params={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [o["id"] for o in second["items"]] == [str(ids["delivered"])]
    assert second["next_cursor"] is None
    delivered = second["items"][0]
    assert delivered["status"] == "delivered"
    assert delivered["total"] == {"amount": "39.98", "minor": 3998, "currency": "EUR"}
    assert delivered["refunded"] == {"amount": "5.00", "minor": 500, "currency": "EUR"}
    assert delivered["version"] == 7
    assert delivered["customer_id"] == str(ALICE)

    bobs = read_api.get(f"/customers/{BOB}/orders").json()
    assert [o["id"] for o in bobs["items"]] == [str(ids["bobs"])]
    nobody = read_api.get(f"/customers/{uuid4()}/orders").json()
    assert (nobody["items"], nobody["next_cursor"]) == ([], None)


def test_an_order_shows_its_timeline_in_version_order(
    settings: Settings, orders: OrdersApplication, read_api: TestClient
) -> None:
    ids = a_few_orders(orders)
    project(settings, the_log(orders))

    response = read_api.get(f"/orders/{ids['delivered']}")
    assert response.status_code == 200
    order = response.json()
    timeline = order["timeline"]
    assert [(e["version"], e["status"]) for e in timeline] == list(
        enumerate(
            [
                "placed",
                "stock_reserved",
                "payment_authorized",
                "confirmed",
                "shipped",
                "delivered",
                "refunded",
            ],
            start=1,
        )
    )
    assert timeline[0]["amount"] == {"amount": "39.98", "minor": 3998, "currency": "EUR"}
    assert timeline[0]["detail"]["lines"] == [
        {"sku": "HP-1000", "quantity": 2, "unit_price_minor": 1999}
    ]
    assert timeline[-1]["amount"] == {"amount": "5.00", "minor": 500, "currency": "EUR"}
    assert timeline[-1]["detail"]["refunded_minor"] == 500
    assert timeline[-1]["occurred_at"] == order["updated_at"]
    assert [e["occurred_at"] for e in timeline] == sorted(e["occurred_at"] for e in timeline)

    cancelled = read_api.get(f"/orders/{ids['cancelled']}").json()
    assert cancelled["timeline"][-1]["detail"] == {"reason": "found it cheaper"}


def test_an_unknown_order_is_a_404_problem(settings: Settings, read_api: TestClient) -> None:
    # Before the projector ever ran there are no tables yet: still an answer, not a 500.
    assert read_api.get(f"/customers/{ALICE}/orders").json()["items"] == []
    response = read_api.get(f"/orders/{uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "is not in the order history" in response.json()["detail"]

    project(settings, [])
    assert read_api.get(f"/orders/{uuid4()}").status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (f"/customers/{ALICE}/orders", {"limit": 0}, "query.limit"),
        (f"/customers/{ALICE}/orders", {"limit": 101}, "query.limit"),
        (f"/customers/{ALICE}/orders", {"limit": "many"}, "query.limit"),
        (f"/customers/{ALICE}/orders", {"cursor": "not-a-cursor"}, "query.cursor"),
        (f"/customers/{ALICE}/orders", {"cursor": "WyJ4IiwgInkiXQ"}, "query.cursor"),
        (f"/customers/{ALICE}/orders", {"after": -1}, "query.after"),
        ("/customers/alice/orders", {}, "path.customer_id"),
        ("/orders/42", {}, "path.order_id"),
        (f"/orders/{BOB}", {"after": "soon"}, "query.after"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    read_api: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    assert_a_422_naming(read_api.get(path, params=params), field)


def test_reading_after_a_position_waits_for_it_or_says_it_is_stale(
    settings: Settings, orders: OrdersApplication, read_api: TestClient
) -> None:
    result = place(orders, ALICE)
    project(settings, the_log(orders))

    stale = read_api.get(f"/orders/{result.id}", params={"after": result.position})
    assert stale.headers["Shop-Stale"] == "true"
    assert stale.json()["consistency"] == {"after": result.position, "applied": 0, "stale": True}

    applied_up_to(settings, result.position)
    fresh = read_api.get(f"/customers/{ALICE}/orders", params={"after": result.position})
    assert fresh.headers["Shop-Stale"] == "false"
    assert fresh.headers["Shop-Applied-Position"] == str(result.position)
    assert fresh.json()["consistency"]["stale"] is False
    assert read_api.get(f"/orders/{uuid4()}", params={"after": 10**6}).headers["Shop-Stale"] == (
        "true"
    )
