"""Auditors' tools against the real event store: replay shows an aggregate's history and the
state it reconstructs (at a version, a time, or the difference between two); export and tail
show the log as stored."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from commands.orders.application import OrdersApplication
from domain.money import Money
from infra import bootstrap
from infra.platform import service_env
from infra.settings import Settings
from tests.support.audit import ALICE, a_history, a_user, shop
from tests.support.catalog import a_product, add_products
from tests.support.orders import deliver, place

pytestmark = pytest.mark.integration


def test_replay_shows_the_history_and_the_state_it_reconstructs(
    settings: Settings, orders: OrdersApplication
) -> None:
    order_id = place(orders, ALICE).id
    deliver(orders, order_id)
    orders.refund(order_id, Money(500, "EUR"), key="r1")

    result = shop(settings, "replay", "order", str(order_id), "--json")

    assert result.exit_code == 0, result.stderr
    replay = json.loads(result.stdout)
    assert [e["type"] for e in replay["history"]] == [
        "orders.OrderPlaced",
        "orders.OrderStockReserved",
        "orders.OrderPaymentAuthorized",
        "orders.OrderConfirmed",
        "orders.OrderShipped",
        "orders.OrderDelivered",
        "orders.OrderRefunded",
    ]
    assert [e["version"] for e in replay["history"]] == list(range(1, 8))
    assert replay["history"][0]["payload"]["customer_id"] == str(ALICE)
    assert all(e["position"] > 0 and e["occurred_at"] for e in replay["history"])
    assert replay["state"]["status"] == "delivered"
    assert replay["state"]["refunded"] == {"minor": 500, "currency": "EUR"}
    assert replay["state"]["version"] == 7

    readable = shop(settings, "replay", "order", str(order_id))
    assert readable.exit_code == 0
    assert '"status": "delivered"' in readable.stdout


def test_replay_at_a_version_or_a_time_and_the_difference_between_two(
    settings: Settings, orders: OrdersApplication
) -> None:
    order_id = place(orders, ALICE).id
    orders.mark_stock_reserved(order_id)
    between = datetime.now(UTC)
    orders.cancel(order_id, "too slow")

    at_two = json.loads(
        shop(settings, "replay", "order", str(order_id), "--version", "2", "--json").stdout
    )
    assert (at_two["state"]["status"], len(at_two["history"])) == ("stock_reserved", 2)
    as_of = json.loads(
        shop(
            settings, "replay", "order", str(order_id), "--as-of", between.isoformat(), "--json"
        ).stdout
    )
    assert as_of["state"] == at_two["state"]

    diff = json.loads(
        shop(settings, "replay", "order", str(order_id), "--diff", "1", "3", "--json").stdout
    )
    changes = {c["path"]: c for c in diff["diff"]["changes"]}
    assert changes["status"]["before"] == "placed"
    assert changes["status"]["after"] == "cancelled"
    assert changes["cancellation_reason"]["after"] == "too slow"
    assert [e["type"] for e in diff["diff"]["events"]] == [
        "orders.OrderStockReserved",
        "orders.OrderCancelled",
    ]
    readable = shop(settings, "replay", "order", str(order_id), "--diff", "1", between.isoformat())
    assert readable.exit_code == 0
    assert "stock_reserved" in readable.stdout


def test_replay_works_for_other_aggregate_types_and_withholds_personal_data(
    settings: Settings,
) -> None:
    (product_id,) = add_products(settings, [a_product("RPL-1", "Radio")])
    catalog = bootstrap.catalog(settings)
    try:
        catalog.change_price(product_id, Money(1234, "EUR"))
    finally:
        catalog.close()
    by_sku = json.loads(shop(settings, "replay", "product", "RPL-1", "--json").stdout)
    assert by_sku["id"] == str(product_id)
    assert by_sku["state"]["price"] == {"minor": 1234, "currency": "EUR"}

    identity: Any = bootstrap.application(settings, "identity")
    try:
        user_id = a_user(identity, "ada@example.com", "Ada")
    finally:
        identity.close()
    user = shop(settings, "replay", "user", str(user_id), "--json")
    assert user.exit_code == 0, user.stderr
    assert "ada@example.com" not in user.stdout
    assert "Ada" not in user.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "invoice", str(uuid4())], "unknown aggregate type 'invoice'"),
        (["replay", "order", "not-an-id"], "is not a order id"),
        (["replay", "order", str(uuid4())], "does not exist"),
        (["replay", "order", "{order}", "--as-of", "yesterday"], "neither a version nor"),
        (["replay", "order", "{order}", "--as-of", "2026-01-01T00:00:00"], "no UTC offset"),
        (["replay", "order", "{order}", "--as-of", "2000-01-01T00:00:00Z"], "did not exist yet"),
        (["replay", "order", "{order}", "--version", "9"], "outside 1..1"),
        (["replay", "order", "{order}", "--diff", "1", "x"], "neither a version nor"),
        (["replay", "product", "{order}"], "does not exist in catalog"),
        (["export", "--context", "warehouse"], "unknown context"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    settings: Settings, orders: OrdersApplication, args: list[str], message: str
) -> None:
    order_id = str(place(orders, ALICE).id)
    result = shop(settings, *(a.replace("{order}", order_id) for a in args))
    assert result.exit_code == 2
    assert message in result.stderr


# --- export and tail -------------------------------------------------------------------


def test_export_writes_the_log_as_json_lines_from_a_position(
    settings: Settings, orders: OrdersApplication
) -> None:
    a_history(orders)

    everything = shop(settings, "export", "--context", "orders")
    tail = shop(settings, "export", "--context", "orders", "--from", "7")

    lines = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [e["position"] for e in lines] == list(range(1, 10))
    assert lines[0]["type"] == "orders.OrderPlaced"
    assert [json.loads(line)["position"] for line in tail.stdout.splitlines()] == [7, 8, 9]


def test_export_pages_through_a_log_longer_than_a_page(
    settings: Settings, orders: OrdersApplication
) -> None:
    from infra.audit.log import read_log

    for _ in range(25):
        place(orders, ALICE)
    positions = [e.position for e in read_log(orders, start=3, page=4)]
    assert positions == list(range(3, 26))


def test_tail_follows_new_events_as_they_are_stored(
    settings: Settings, orders: OrdersApplication
) -> None:
    place(orders, ALICE)  # before the tail starts: not shown
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.cli",
            "events",
            "tail",
            "--context",
            "orders",
            "--context",
            "catalog",
            "--limit",
            "3",
            "--json",
        ],
        env=service_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stderr is not None
        while not (line := follower.stderr.readline()).startswith("following"):
            assert line, "the tail ended before it started following"
        first = place(orders, ALICE).id
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        add_products(settings, [a_product("TAIL-1")])
        orders.mark_stock_reserved(first)
        out, err = follower.communicate(
            timeout=max((deadline - datetime.now(UTC)).total_seconds(), 1)
        )
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    seen = [json.loads(line) for line in out.splitlines()]
    assert sorted((e["context"], e["type"]) for e in seen) == [
        ("catalog", "catalog.ProductAdded"),
        ("orders", "orders.OrderPlaced"),
        ("orders", "orders.OrderStockReserved"),
    ]
