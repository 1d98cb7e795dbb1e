"""The inventory command API over a real event store: stock is never oversold.

Most tests use the in-process TestClient; the concurrency tests run the command API as a
real uvicorn process and hit it from many threads at once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi.testclient import TestClient

from commands.inventory.application import InventoryApplication
from domain.inventory import StockItem, stock_item_id_for
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.applications import head
from tests.support.auth import as_admin
from tests.support.platform import start

pytestmark = pytest.mark.integration

# Fixed, not random: parameter ids must be the same in every xdist worker.
SOME_ORDER = UUID("6d1f0c52-3c1e-4b8e-9a57-0f4c2b9e7a11")


@pytest.fixture
def server(settings: Settings, processes: Supervisor) -> str:
    """The command API as a real uvicorn process; its base URL. These tests measure
    concurrency, not rate limits: one admin may send hundreds of requests at once."""
    url = f"http://{settings.api_host}:{settings.command_api_port}"
    unlimited = {"burst_per_user": 10_000, "burst_per_address": 10_000}
    start(processes, settings.model_copy(update=unlimited), "command-api")
    processes.wait_healthy(
        "command-api", lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, 60
    )
    return url


def stock(inventory: InventoryApplication, sku: str) -> StockItem:
    return inventory.get_stock_item(sku)


def reservation(order_id: UUID | None = None, **lines: int) -> dict[str, Any]:
    return {
        "order_id": str(order_id or uuid4()),
        "lines": [{"sku": sku.replace("_", "-"), "quantity": q} for sku, q in lines.items()],
    }


def test_receiving_stock_answers_201_and_the_units_are_on_hand(
    client: TestClient, inventory: InventoryApplication
) -> None:
    response = client.post("/stock/MUG-1/receipts", json={"quantity": 12})

    assert response.status_code == 201
    body = response.json()
    assert body["id"] == str(stock_item_id_for("MUG-1"))
    assert body["version"] == 2  # registered, then received
    assert response.headers["etag"] == '"2"'
    assert body["position"] == head(inventory)
    assert stock(inventory, "MUG-1").available == 12


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/stock/MUG-1/receipts", {"quantity": 0}, "body.quantity"),
        ("/stock/MUG-1/receipts", {"quantity": "5"}, "body.quantity"),
        ("/stock/MUG-1/receipts", {"quantity": 5, "price": 1}, "body.price"),
        ("/stock/mug 1/receipts", {"quantity": 5}, "path.sku"),
        ("/stock/MUG-1/adjustments", {"change": 0, "reason": "count"}, "body.change"),
        ("/stock/MUG-1/adjustments", {"change": -1}, "body.reason"),
        ("/reservations", reservation(MUG_1=0), "body.lines.0.quantity"),
        ("/reservations", {"order_id": "nope", "lines": []}, "body.order_id"),
        ("/reservations", {"order_id": str(SOME_ORDER), "lines": []}, "body.lines"),
        (
            "/reservations",
            {"order_id": str(SOME_ORDER), "lines": [{"sku": "MUG-1", "quantity": 1}] * 2},
            "body.lines",
        ),
        (f"/reservations/{SOME_ORDER}/commit", {"skus": []}, "body.skus"),
        ("/reservations/not-a-uuid/release", {"skus": ["MUG-1"]}, "path.order_id"),
        ("/reservations/expire", {"older_than": "2030-01-01T00:00:00"}, "body.older_than"),
    ],
)
def test_invalid_stock_commands_get_a_problem_naming_the_field_and_append_nothing(
    client: TestClient, inventory: InventoryApplication, path: str, body: Any, field: str
) -> None:
    before = head(inventory)

    response = client.post(path, json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.json()
    assert head(inventory) == before


def test_an_order_is_reserved_on_all_its_skus_or_none_and_the_problem_names_the_short_ones(
    client: TestClient, inventory: InventoryApplication
) -> None:
    client.post("/stock/MUG-1/receipts", json={"quantity": 5})
    client.post("/stock/TEA-1/receipts", json={"quantity": 1})
    before = head(inventory)

    refused = client.post("/reservations", json=reservation(MUG_1=2, TEA_1=2, NEVER_SEEN=1))

    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "insufficient_stock"
    assert "NEVER-SEEN" in refused.json()["detail"]
    assert "TEA-1" in refused.json()["detail"]
    assert "MUG-1" not in refused.json()["detail"]
    assert head(inventory) == before
    assert stock(inventory, "MUG-1").reserved == 0

    order_id = uuid4()
    reserved = client.post("/reservations", json=reservation(order_id, MUG_1=2, TEA_1=1))
    again = client.post("/reservations", json=reservation(order_id, MUG_1=2, TEA_1=1))

    assert reserved.status_code == 201
    assert reserved.json()["versions"] == {"MUG-1": 3, "TEA-1": 3}
    assert again.status_code == 201
    assert again.json()["versions"] == {"MUG-1": 3, "TEA-1": 3}
    assert (stock(inventory, "MUG-1").reserved, stock(inventory, "TEA-1").available) == (2, 0)


def test_paying_commits_the_reserved_units_and_cancelling_releases_them(
    client: TestClient, inventory: InventoryApplication
) -> None:
    client.post("/stock/MUG-1/receipts", json={"quantity": 5})
    paid, cancelled = uuid4(), uuid4()
    client.post("/reservations", json=reservation(paid, MUG_1=2))
    client.post("/reservations", json=reservation(cancelled, MUG_1=1))
    skus = {"skus": ["MUG-1"]}

    committed = client.post(f"/reservations/{paid}/commit", json=skus)
    released = client.post(f"/reservations/{cancelled}/release", json=skus)

    assert (committed.status_code, released.status_code) == (200, 200)
    item = stock(inventory, "MUG-1")
    assert (item.on_hand, item.reserved, item.committed, item.available) == (3, 0, 2, 3)
    assert client.post(f"/reservations/{paid}/commit", json=skus).status_code == 200
    late = client.post(f"/reservations/{paid}/release", json=skus)
    assert (late.status_code, late.json()["code"]) == (409, "reservation_committed")
    unreserved = client.post(f"/reservations/{cancelled}/commit", json=skus)
    assert (unreserved.status_code, unreserved.json()["code"]) == (409, "no_reservation")


def test_reservations_older_than_the_cut_off_expire(
    client: TestClient, inventory: InventoryApplication
) -> None:
    client.post("/stock/MUG-1/receipts", json={"quantity": 5})
    client.post("/stock/TEA-1/receipts", json={"quantity": 5})
    order_id = uuid4()
    client.post("/reservations", json=reservation(order_id, MUG_1=2, TEA_1=1))
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()

    nothing = client.post("/reservations/expire", json={"older_than": past})
    expired = client.post("/reservations/expire", json={"older_than": future})

    assert nothing.status_code == 200
    assert nothing.json()["expired"] == []
    assert expired.status_code == 200
    assert sorted(e["sku"] for e in expired.json()["expired"]) == ["MUG-1", "TEA-1"]
    assert {e["order_id"] for e in expired.json()["expired"]} == {str(order_id)}
    assert expired.json()["position"] == head(inventory)
    assert stock(inventory, "MUG-1").reserved == 0
    assert stock(inventory, "TEA-1").reserved == 0


def test_an_adjustment_may_not_remove_reserved_units_and_honours_if_match(
    client: TestClient, inventory: InventoryApplication
) -> None:
    client.post("/stock/MUG-1/receipts", json={"quantity": 5})
    client.post("/reservations", json=reservation(MUG_1=4))

    too_many = client.post("/stock/MUG-1/adjustments", json={"change": -2, "reason": "broken"})
    fine = client.post(
        "/stock/MUG-1/adjustments",
        json={"change": -1, "reason": "broken"},
        headers={"If-Match": '"3"'},
    )
    stale = client.post(
        "/stock/MUG-1/adjustments",
        json={"change": 3, "reason": "found"},
        headers={"If-Match": '"3"'},
    )

    assert (too_many.status_code, too_many.json()["code"]) == (409, "adjustment_exceeds_available")
    assert fine.status_code == 201
    assert fine.headers["etag"] == '"4"'
    assert (stale.status_code, stale.json()["code"]) == (409, "version_conflict")
    assert (stock(inventory, "MUG-1").on_hand, stock(inventory, "MUG-1").available) == (4, 0)


def test_200_buyers_at_once_of_50_units_get_exactly_50_reservations(
    server: str, inventory: InventoryApplication, settings: Settings
) -> None:
    with httpx.Client(base_url=server, timeout=60, headers=as_admin(settings)) as http:
        assert http.post("/stock/HOT-1/receipts", json={"quantity": 50}).status_code == 201

        def buy(_: int) -> httpx.Response:
            return http.post("/reservations", json=reservation(HOT_1=1))

        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(buy, range(200)))

    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 50, statuses
    refused = [r for r in responses if r.status_code != 201]
    assert len(refused) == 150
    assert all(r.status_code == 409 for r in refused)
    assert {r.json()["code"] for r in refused} == {"insufficient_stock"}
    assert all("HOT-1" in r.json()["detail"] for r in refused)
    # The event store agrees, and this long-lived item (52 events) has a snapshot.
    item = stock(inventory, "HOT-1")
    assert (item.reserved, item.available, item.version) == (50, 0, 52)
    assert inventory.snapshots is not None
    (snapshot,) = inventory.snapshots.get(item.id, desc=True, limit=1)
    assert snapshot.originator_version == 50


def test_ten_concurrent_repeats_of_a_keyed_receipt_receive_once_and_answer_alike(
    server: str, inventory: InventoryApplication, settings: Settings
) -> None:
    with httpx.Client(base_url=server, timeout=60, headers=as_admin(settings)) as http:

        def receive(_: int) -> httpx.Response:
            return http.post(
                "/stock/MUG-1/receipts",
                json={"quantity": 7},
                headers={"Idempotency-Key": "delivery-2030-01-01-0001"},
            )

        with ThreadPoolExecutor(max_workers=10) as pool:
            responses = list(pool.map(receive, range(10)))

    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.content for r in responses}) == 1
    assert stock(inventory, "MUG-1").received == 7


def test_ten_concurrent_repeats_of_a_keyed_reservation_reserve_once_and_answer_alike(
    server: str, inventory: InventoryApplication, settings: Settings
) -> None:
    body = reservation(MUG_1=3)
    with httpx.Client(base_url=server, timeout=60, headers=as_admin(settings)) as http:
        http.post("/stock/MUG-1/receipts", json={"quantity": 10})

        def reserve(_: int) -> httpx.Response:
            return http.post("/reservations", json=body, headers={"Idempotency-Key": "order-42"})

        with ThreadPoolExecutor(max_workers=10) as pool:
            responses = list(pool.map(reserve, range(10)))

    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.content for r in responses}) == 1
    item = stock(inventory, "MUG-1")
    assert (item.reserved, item.version) == (3, 3)
