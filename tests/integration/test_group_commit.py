"""Group commit against the real event store (ADR 0026): many writers at once, some of them
conflicting, and the log still holds every accepted event exactly once, in order, without a
hole, and its hash chains verify."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent
from psycopg import sql
from typer.testing import CliRunner

from commands.base import ShopApplication
from commands.group_commit import GroupCommitRecorder, _Request
from commands.identity.application import IdentityApplication
from commands.identity.emails import EmailClaim
from infra import bootstrap
from infra.cli import cli
from infra.platform import service_env
from infra.settings import Settings

pytestmark = pytest.mark.integration

WRITERS = 24
REQUESTS_PER_WRITER = 25
TOPIC = "tests.group_commit:Happened"


def recorder_of(app: ShopApplication) -> GroupCommitRecorder:
    assert isinstance(app.recorder, GroupCommitRecorder)
    return app.recorder


def event(originator: UUID, version: int) -> StoredEvent:
    """A stored event whose state is unique, so it can be found again."""
    return StoredEvent(originator, version, TOPIC, uuid4().bytes)


@dataclass
class Attempt:
    events: list[StoredEvent]
    must_conflict: bool
    ids: Sequence[int] | None = None
    error: Exception | None = None


class Batches:
    """Counts the sizes of the batches a recorder writes."""

    def __init__(self, recorder: GroupCommitRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: Counter[int] = Counter()
        write = recorder._write_batch

        def counted(batch: list[_Request]) -> None:
            self.sizes[len(batch)] += 1
            write(batch)

        monkeypatch.setattr(recorder, "_write_batch", counted)


def stored_log(app: ShopApplication) -> list[tuple[int, UUID, int, bytes]]:
    """The whole log read as the relay reads it: after a position, in pages."""
    log: list[tuple[int, UUID, int, bytes]] = []
    position = 0
    while page := app.recorder.select_notifications(
        start=position, limit=100, inclusive_of_start=False
    ):
        log += [(n.id, UUID(str(n.originator_id)), n.originator_version, n.state) for n in page]
        position = page[-1].id
    return log


def verify(settings: Settings, context: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["audit", "verify", "--json", "--context", context], env=service_env(settings)
    )
    assert result.exit_code == 0, result.stdout
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_concurrent_writers_with_conflicts_lose_reorder_and_duplicate_nothing(
    settings: Settings, orders: ShopApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = recorder_of(orders)
    batches = Batches(recorder, monkeypatch)
    committed: dict[UUID, int] = {}  # stream -> highest version known committed
    committed_lock = threading.Lock()
    attempts: list[list[Attempt]] = [[] for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)

    def writer(number: int) -> None:
        rng = random.Random(number)
        mine = [uuid4() for _ in range(3)]
        versions = dict.fromkeys(mine, 0)
        start.wait()
        for _ in range(REQUESTS_PER_WRITER):
            with committed_lock:
                others = [(s, v) for s, v in committed.items() if s not in versions]
            if others and rng.random() < 0.25:
                # A version another writer's stream already has: must be refused, alone.
                stream, head = rng.choice(others)
                attempt = Attempt([event(stream, rng.randint(1, head))], must_conflict=True)
            else:
                stream = rng.choice(mine)
                first = versions[stream] + 1
                count = rng.randint(1, 3)
                attempt = Attempt(
                    [event(stream, v) for v in range(first, first + count)], must_conflict=False
                )
            try:
                attempt.ids = recorder.insert_events(attempt.events)
            except IntegrityError as e:
                attempt.error = e
            attempts[number].append(attempt)
            if attempt.ids is not None:
                last = attempt.events[-1]
                versions[stream] = last.originator_version
                with committed_lock:
                    committed[stream] = last.originator_version

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [attempt for mine in attempts for attempt in mine]
    accepted = [a for a in everything if not a.must_conflict]
    refused = [a for a in everything if a.must_conflict]
    assert len(refused) > 10, "the run should have produced conflicts"
    assert all(a.error is None and a.ids is not None for a in accepted)
    assert all(isinstance(a.error, IntegrityError) and a.ids is None for a in refused)
    assert max(batches.sizes) > 1, f"no two saves shared a transaction: {batches.sizes}"

    log = stored_log(orders)
    ids = [position for position, *_ in log]
    assert ids == sorted(set(ids)), "a notification id is repeated or out of order"
    assert ids == list(range(1, len(ids) + 1)), "the log has a hole"
    by_state = {state: (position, stream, version) for position, stream, version, state in log}
    expected = {e.state for a in accepted for e in a.events}
    assert set(by_state) == expected, "an accepted event is missing, or a refused one stored"
    for attempt in accepted:
        assert attempt.ids is not None
        found = [by_state[e.state] for e in attempt.events]
        assert [position for position, _, _ in found] == list(attempt.ids)
        assert [(s, v) for _, s, v in found] == [
            (e.originator_id, e.originator_version) for e in attempt.events
        ]
        assert list(attempt.ids) == list(range(attempt.ids[0], attempt.ids[0] + len(found)))
    streams: dict[UUID, list[tuple[int, int]]] = {}
    for position, stream, version, _ in log:
        streams.setdefault(stream, []).append((version, position))
    for stream, history in streams.items():
        assert [v for v, _ in history] == list(range(1, len(history) + 1)), stream
        assert [p for _, p in history] == sorted(p for _, p in history), stream

    report = verify(settings, "orders")
    assert report["ok"] is True
    assert report["contexts"]["orders"]["records"] == len(expected)


def test_a_conflict_in_a_batch_is_refused_alone_and_gives_its_ids_back(
    orders: ShopApplication,
) -> None:
    recorder = recorder_of(orders)
    taken = uuid4()
    recorder.insert_events([event(taken, 1)])
    first, second = uuid4(), uuid4()
    batch = [
        _Request([event(first, 1), event(first, 2)], {}),
        _Request([event(taken, 1)], {}),  # version 1 is stored already
        _Request([event(second, 1), event(second, 1)], {}),  # clashes with itself mid-insert
        _Request([event(second, 1)], {}),
    ]

    recorder._write_batch(batch)

    assert batch[0].ids == [2, 3]
    assert isinstance(batch[1].error, IntegrityError)
    assert isinstance(batch[2].error, IntegrityError)
    assert batch[3].ids == [4]
    assert [n.id for n in orders.recorder.select_notifications(1, 10)] == [1, 2, 3, 4]
    assert recorder.insert_events([event(uuid4(), 1)]) == [5]


def test_a_failed_commit_fails_every_request_of_the_batch(
    settings: Settings, orders: ShopApplication
) -> None:
    recorder = recorder_of(orders)
    table = bootstrap.events_table(orders)
    refuse = sql.Identifier(table.schema, "refuse_at_commit")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " IF NEW.state = '\\xdead'::bytea THEN RAISE EXCEPTION 'refused at commit';"
                " END IF; RETURN NULL; END $$"
            ).format(refuse)
        )
        conn.execute(
            sql.SQL(
                "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON {}"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {}()"
            ).format(table.name, refuse)
        )
    fine = _Request([event(uuid4(), 1)], {})
    doomed = _Request([StoredEvent(uuid4(), 1, TOPIC, b"\xde\xad")], {})

    recorder._write_batch([fine, doomed])

    assert isinstance(fine.error, PersistenceError)
    assert "refused at commit" in str(fine.error)
    assert isinstance(doomed.error, PersistenceError)
    assert orders.recorder.select_notifications(1, 10) == []
    assert recorder.insert_events([event(uuid4(), 1)]) is not None


def test_a_taken_email_in_a_batch_refuses_only_its_registration(
    settings: Settings, identity: IdentityApplication
) -> None:
    recorder = identity.recorder
    assert isinstance(recorder, GroupCommitRecorder)
    alice, bob, mallory = uuid4(), uuid4(), uuid4()

    def registration(user: UUID, address: str) -> _Request:
        claim = EmailClaim(identity.email_hash(address), user)
        return _Request([event(user, 1)], {"email_claim": claim})

    batch = [
        registration(alice, "alice@example.com"),
        registration(mallory, "alice@example.com"),
        registration(bob, "bob@example.com"),
    ]

    recorder._write_batch(batch)

    assert batch[0].ids == [1]
    assert isinstance(batch[1].error, IntegrityError)
    assert batch[2].ids == [2]
    assert identity.user_for_email("alice@example.com") == alice
    assert identity.user_for_email("bob@example.com") == bob
    assert [n.originator_id for n in identity.recorder.select_notifications(1, 10)] == [
        alice,
        bob,
    ]
    assert verify(settings, "identity")["ok"] is True


def test_concurrent_registrations_of_one_address_let_exactly_one_win(
    identity: IdentityApplication,
) -> None:
    recorder = identity.recorder
    assert isinstance(recorder, GroupCommitRecorder)
    outcomes: dict[UUID, str] = {}
    start = threading.Barrier(16)

    def register(n: int) -> None:
        user = uuid4()
        address = f"user{n % 8}@example.com"  # two registrations per address
        claim = EmailClaim(identity.email_hash(address), user)
        start.wait()
        try:
            recorder.insert_events([event(user, 1)], email_claim=claim)
            outcomes[user] = address
        except IntegrityError:
            outcomes[user] = "refused"

    threads = [threading.Thread(target=register, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [address for address in outcomes.values() if address != "refused"]
    assert sorted(winners) == sorted(f"user{n}@example.com" for n in range(8))
    log = [n.id for n in identity.recorder.select_notifications(1, 100)]
    assert log == list(range(1, 9))


def test_batches_are_bounded(orders: ShopApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = recorder_of(orders)
    monkeypatch.setattr("commands.group_commit.MAX_BATCH_REQUESTS", 3)
    batches = Batches(recorder, monkeypatch)
    start = threading.Barrier(12)

    def write() -> None:
        start.wait()
        for _ in range(10):
            recorder.insert_events([event(uuid4(), 1)])

    threads = [threading.Thread(target=write) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert max(batches.sizes) <= 3
    assert sum(size * count for size, count in batches.sizes.items()) == 120
    assert [n.id for n in orders.recorder.select_notifications(1, 200)] == list(range(1, 121))


class HookFailed(Exception):
    pass


def test_a_hook_that_raises_refuses_only_its_request(
    orders: ShopApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = recorder_of(orders)
    hook = recorder._insert_events

    def failing_hook(curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        if kwargs.get("boom"):
            raise HookFailed
        hook(curs, stored_events, **kwargs)

    monkeypatch.setattr(recorder, "_insert_events", failing_hook)
    batch = [
        _Request([event(uuid4(), 1)], {}),
        _Request([event(uuid4(), 1)], {"boom": True}),
        _Request([event(uuid4(), 1)], {}),
    ]

    recorder._write_batch(batch)

    assert batch[0].ids == [1]
    assert isinstance(batch[1].error, HookFailed)
    assert batch[2].ids == [2]
    assert [n.id for n in orders.recorder.select_notifications(1, 10)] == [1, 2]
