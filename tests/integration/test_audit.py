"""Auditors' tools against the real event store: the hash chain catches edited, deleted and
reordered records; replay, export and tail show what is stored."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg import sql
from pydantic import SecretStr
from typer.testing import CliRunner

from commands.orders.application import OrdersApplication
from domain.money import Money
from infra import bootstrap
from infra.cli import cli
from infra.platform import service_env
from infra.provision import provision
from infra.settings import Settings
from tests.support.catalog import a_product, add_products
from tests.support.orders import deliver, place

pytestmark = pytest.mark.integration

ALICE = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9a01")


def shop(settings: Settings, *args: str) -> Any:
    """Run a `shop` command in this process, with this test's settings in the environment."""
    return CliRunner().invoke(cli, list(args), env=service_env(settings))


def verify_json(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    result = shop(settings, "audit", "verify", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def orders_table(orders: OrdersApplication) -> sql.Identifier:
    events = bootstrap.events_table(orders)
    return events.name


def tamper(settings: Settings, statement: sql.Composed, *params: Any) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(statement, params)


def a_history(orders: OrdersApplication) -> list[UUID]:
    """Three orders, interleaved in the log: positions 1..9."""
    first, second, third = (place(orders, ALICE).id for _ in range(3))
    orders.mark_stock_reserved(first)
    orders.mark_stock_reserved(second)
    orders.mark_stock_reserved(third)
    orders.cancel(second, "changed my mind")
    orders.mark_payment_authorized(first, uuid4())
    orders.confirm(first)
    return [first, second, third]


def test_an_untouched_event_store_verifies_in_every_context(
    settings: Settings, orders: OrdersApplication
) -> None:
    add_products(settings, [a_product("AUD-1"), a_product("AUD-2")])
    a_history(orders)

    code, report = verify_json(settings)

    assert code == 0
    assert report["ok"] is True
    assert set(report["contexts"]) == set(bootstrap.CONTEXTS)
    assert report["contexts"]["orders"]["records"] == 9
    assert report["contexts"]["orders"]["streams"] == 3
    assert report["contexts"]["orders"]["head_position"] == 9
    assert report["contexts"]["catalog"]["records"] == 2
    assert report["contexts"]["identity"]["records"] == 0


def test_an_edited_record_is_reported_at_its_position(
    settings: Settings, orders: OrdersApplication
) -> None:
    first, *_ = a_history(orders)
    # The payload of the first order's StockReserved (position 4): one byte flipped.
    tamper(
        settings,
        sql.SQL(
            "UPDATE {} SET state = set_byte(state, 0, get_byte(state, 0) # 1)"
            " WHERE notification_id = 4"
        ).format(orders_table(orders)),
    )

    code, report = verify_json(settings, "--context", "orders")

    assert code == 1
    orders_report = report["contexts"]["orders"]
    assert orders_report["log_break"]["position"] == 4
    assert "does not match its hash" in orders_report["log_break"]["reason"]
    assert orders_report["stream_break"]["aggregate_id"] == str(first)
    assert orders_report["stream_break"]["version"] == 2


def test_an_edited_record_with_a_recomputed_hash_breaks_the_next_link(
    settings: Settings, orders: OrdersApplication
) -> None:
    """A forger who also rewrites the edited record's own hashes is caught by its successor."""
    from infra.audit.chain import link, record_digest

    a_history(orders)
    table = orders_table(orders)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT e.originator_id::text, e.originator_version, e.topic, e.state,"
                " (SELECT audit_log_hash FROM {t} WHERE notification_id = 4)"
                " FROM {t} e WHERE notification_id = 5"
            ).format(t=table)
        ).fetchone()
        assert row is not None
        oid, version, topic, state, previous = row
        forged = bytes([state[0] ^ 1]) + bytes(state[1:])  # ciphertext: any byte will do
        forged_hash = link(bytes(previous), 5, record_digest(oid, version, topic, forged))
        conn.execute(
            sql.SQL(
                "UPDATE {} SET state = %s, audit_log_hash = %s WHERE notification_id = 5"
            ).format(table),
            (forged, forged_hash),
        )

    code, report = verify_json(settings, "--context", "orders")

    assert code == 1
    assert report["contexts"]["orders"]["log_break"]["position"] == 6


def test_a_deleted_record_is_reported_where_the_chain_breaks(
    settings: Settings, orders: OrdersApplication
) -> None:
    _, second, _ = a_history(orders)
    # Position 5: the second order's StockReserved, in the middle of its stream.
    tamper(
        settings, sql.SQL("DELETE FROM {} WHERE notification_id = 5").format(orders_table(orders))
    )

    code, report = verify_json(settings, "--context", "orders")

    assert code == 1
    log_break = report["contexts"]["orders"]["log_break"]
    assert log_break["position"] == 6
    assert "position 5, which is missing" in log_break["reason"]
    stream_break = report["contexts"]["orders"]["stream_break"]
    assert (stream_break["aggregate_id"], stream_break["version"]) == (str(second), 3)
    assert "version 2 is missing" in stream_break["reason"]


@pytest.mark.parametrize("what", ["positions", "payloads"])
def test_reordered_records_are_reported_at_the_first_moved_position(
    settings: Settings, orders: OrdersApplication, what: str
) -> None:
    a_history(orders)
    table = orders_table(orders)
    if what == "positions":  # swap the notification ids of positions 4 and 7
        statements = [
            "UPDATE {t} SET notification_id = -4 WHERE notification_id = 4",
            "UPDATE {t} SET notification_id = 4 WHERE notification_id = 7",
            "UPDATE {t} SET notification_id = 7 WHERE notification_id = -4",
        ]
    else:  # swap what positions 4 and 5 store (both a StockReserved)
        statements = [
            "UPDATE {t} a SET state = b.state, topic = b.topic FROM {t} b"
            " WHERE (a.notification_id, b.notification_id) IN ((4, 5), (5, 4))"
        ]
    with psycopg.connect(settings.database_url) as conn:
        for statement in statements:
            conn.execute(sql.SQL(statement).format(t=table))

    code, report = verify_json(settings, "--context", "orders")

    assert code == 1
    assert report["contexts"]["orders"]["log_break"]["position"] == 4


def test_a_truncated_log_is_caught_by_an_anchor_from_an_earlier_verify(
    settings: Settings, orders: OrdersApplication, tmp_path: Any
) -> None:
    a_history(orders)
    anchors = tmp_path / "anchors.json"
    anchors.write_text(shop(settings, "audit", "verify", "--json").stdout)
    tamper(
        settings, sql.SQL("DELETE FROM {} WHERE notification_id = 9").format(orders_table(orders))
    )

    assert verify_json(settings)[0] == 0  # no link inside the table shows a cut tail
    code, report = verify_json(settings, "--anchors", str(anchors))

    assert code == 1
    assert "position 9 is missing" in report["contexts"]["orders"]["anchor_problem"]


def test_verification_hashes_the_stored_bytes_so_undecodable_records_still_verify(
    settings: Settings, orders: OrdersApplication
) -> None:
    """After erasure by deleting keys, ciphertext cannot be decrypted; it must still verify."""
    place(orders, ALICE)
    orders.recorder.insert_events(
        [StoredEvent(uuid4(), 1, "domain.orders.order:Order.Placed", bytes(range(256)))]
    )

    assert verify_json(settings, "--context", "orders")[0] == 0


def test_concurrent_writers_never_fork_the_chain(
    settings: Settings, orders: OrdersApplication
) -> None:
    # Made here: creating applications at once races on the library's CREATE statements.
    apps = [bootstrap.application(settings, "orders") for _ in range(6)]

    def write(app: Any) -> None:
        for _ in range(15):
            app.mark_stock_reserved(place(app, ALICE).id)

    threads = [threading.Thread(target=write, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for app in apps:
        app.close()

    code, report = verify_json(settings, "--context", "orders")
    assert code == 0, report
    assert report["contexts"]["orders"]["records"] == 180


def test_provision_chains_records_stored_before_the_chain_existed(
    settings: Settings, orders: OrdersApplication
) -> None:
    table = orders_table(orders)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TRIGGER audit_chain ON {}").format(table))
    a_history(orders)
    assert verify_json(settings, "--context", "orders")[0] == 1  # unchained records

    provision(settings)
    place(orders, ALICE)

    code, report = verify_json(settings, "--context", "orders")
    assert code == 0, report
    assert report["contexts"]["orders"]["records"] == 10


def test_verify_answers_a_readable_table_and_refuses_unknown_contexts(settings: Settings) -> None:
    result = shop(settings, "audit", "verify")
    assert result.exit_code == 0
    assert "orders" in result.stdout
    assert "ok" in result.stdout

    unknown = shop(settings, "audit", "verify", "--context", "warehouse")
    assert unknown.exit_code == 2
    assert "unknown context 'warehouse'" in unknown.stderr


# --- replay ------------------------------------------------------------------------


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

    from commands.identity.models import RegisterUser

    identity = bootstrap.application(settings, "identity")
    try:
        user_id = identity.register(  # type: ignore[attr-defined]
            RegisterUser(
                email="ada@example.com",
                display_name="Ada",
                password=SecretStr("correct horse battery staple"),
            ),
            uuid4(),
        ).id
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


def test_the_chains_still_verify_after_a_user_is_erased_and_replay_shows_no_personal_data(
    settings: Settings, tmp_path: Any
) -> None:
    """Erasure shreds the user's data key; the stored bytes, and so the hashes, stay as they are."""
    from commands.identity.models import RegisterUser

    identity: Any = bootstrap.application(settings, "identity")
    try:
        user_id = identity.register(
            RegisterUser(
                email="grace@example.com",
                display_name="Grace Hopper",
                password=SecretStr("correct horse battery staple"),
            ),
            uuid4(),
        ).id
        before = verify_json(settings, "--context", "identity")
        identity.erase(user_id)
    finally:
        identity.close()

    anchors = tmp_path / "before.json"
    anchors.write_text(json.dumps(before[1]))
    # The head from before the erasure still has the hash it had: nothing stored was rewritten.
    code, report = verify_json(settings, "--context", "identity", "--anchors", str(anchors))
    assert (before[0], code) == (0, 0)
    assert report["contexts"]["identity"]["records"] == 2
    replay = shop(settings, "replay", "user", str(user_id), "--json")
    assert replay.exit_code == 0, replay.stderr
    assert "grace@example.com" not in replay.stdout
    assert "Grace" not in replay.stdout
    assert [e["type"] for e in json.loads(replay.stdout)["history"]] == [
        "identity.UserRegistered",
        "identity.UserErased",
    ]
