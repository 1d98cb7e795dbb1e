"""Auditors' tools against the real event store: the hash chain catches edited, deleted and
reordered records, and still verifies after an erasure."""

from __future__ import annotations

import json
import threading
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from commands.orders.application import OrdersApplication
from infra import bootstrap
from infra.provision import provision
from infra.settings import Settings
from tests.support.audit import ALICE, a_history, a_user, shop, verify_json
from tests.support.catalog import a_product, add_products
from tests.support.orders import place

pytestmark = pytest.mark.integration


def orders_table(orders: OrdersApplication) -> sql.Identifier:
    events = bootstrap.events_table(orders)
    return events.name


def tamper(settings: Settings, statement: sql.Composed, *params: Any) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(statement, params)


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


def test_the_chains_still_verify_after_a_user_is_erased_and_replay_shows_no_personal_data(
    settings: Settings, tmp_path: Any
) -> None:
    """Erasure shreds the user's data key; the stored bytes, and so the hashes, stay as they are."""
    identity: Any = bootstrap.application(settings, "identity")
    try:
        user_id = a_user(identity, "grace@example.com", "Grace Hopper")
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
