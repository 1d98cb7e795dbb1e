"""The carts read model against the real Redis (and, for the worker test, the whole stack)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from commands.carts.application import CartsApplication
from contract.envelope import Envelope, envelope_for
from contract.watermark import complete_up_to
from domain.carts import Cart
from domain.errors import DomainError
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.http import install_problem_handlers
from infra.read_models import rebuild
from infra.settings import Settings
from projections.carts import fold
from projections.sinks.redis_carts import CARTS, CartStore, encode
from read_api import carts as carts_read_api
from read_api.consistency import AppliedPosition
from tests.support.auth import as_admin, with_access
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration
T = TypeVar("T")
Stop = Callable[[], bool]
ALICE, BOB = UUID(int=0xA11CE), UUID(int=0xB0B)


def with_store(settings: Settings, action: Callable[[CartStore], Awaitable[T]]) -> T:
    async def run() -> T:
        client = Redis.from_url(settings.redis_url)
        try:
            return await action(CartStore(client, settings.namespace))
        finally:
            await client.aclose()

    return asyncio.run(run())


def snapshot(settings: Settings) -> dict[str, Any]:
    """The read model's keys in this namespace: cart JSON decoded, customer sets as sorted lists.

    Other keys share the namespace (the rate limiter's buckets are hashes that expire a few
    seconds after the last request), so a key may vanish between the scan and the read: its
    type is then ``none``, and it is skipped rather than read as a missing cart.
    """
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        result: dict[str, Any] = {}
        for key in client.scan_iter(f"{settings.namespace}:*"):
            kind = client.type(key)
            if kind == "set":
                result[key] = sorted(str(m) for m in client.smembers(key))
            elif kind == "string":
                result[key] = json.loads(str(client.get(key)))
        return result
    finally:
        client.close()


def a_cart_history(customer: UUID, skus: list[str], check_out: bool = False) -> list[Envelope]:
    cart = Cart(id=uuid4(), customer_id=customer)
    for i, sku in enumerate(skus):
        cart.add_item(sku, i + 1)
    if check_out:
        cart.check_out()
    return [envelope_for("carts", e, 1, None) for e in cart.collect_events()]


def test_the_compare_and_set_refuses_an_older_or_equal_version(settings: Settings) -> None:
    (v1, v2, v3) = a_cart_history(ALICE, ["MUG-1", "TEA-7"])
    views = [fold(None, [v1]), fold(None, [v1, v2]), fold(None, [v1, v2, v3])]
    assert all(views)
    first, second, third = (v for v in views if v is not None)

    async def race(store: CartStore) -> list[bool]:
        return [
            await store.write(third),
            await store.write(second),  # older: refused
            await store.write({**third, "lines": []}),  # equal: refused
            await store.write(first, authoritative=True),  # older, even for a rebuild
        ]

    assert with_store(settings, race) == [True, False, False, False]
    assert snapshot(settings)[f"{settings.namespace}:cart:{third['id']}"] == third


def test_delivering_a_batch_twice_leaves_the_read_model_identical(settings: Settings) -> None:
    batch = (
        a_cart_history(ALICE, ["MUG-1", "TEA-7", "MUG-1"])
        + a_cart_history(BOB, ["PAN-3"], check_out=True)
        + a_cart_history(BOB, ["TEA-7", "PAN-3"])
    )
    assert with_store(settings, lambda store: store.apply(batch)) == 3
    once = snapshot(settings)
    assert with_store(settings, lambda store: store.apply(batch)) == 0
    assert snapshot(settings) == once
    assert len([k for k in once if ":cart:" in k]) == 3
    assert once[f"{settings.namespace}:customer-carts:{BOB}"] == [batch[-1].aggregate_id]


def test_an_older_batch_arriving_late_never_regresses_a_cart(settings: Settings) -> None:
    history = a_cart_history(ALICE, ["MUG-1", "TEA-7", "PAN-3"], check_out=True)
    with_store(settings, lambda store: store.apply(history))
    latest = snapshot(settings)
    with_store(settings, lambda store: store.apply(history[:3]))
    assert snapshot(settings) == latest


def test_projectors_racing_on_the_same_carts_lose_no_event(settings: Settings) -> None:
    """As in a rebalance: several consumers apply overlapping runs of the same carts."""
    histories = [a_cart_history(ALICE, ["MUG-1", "TEA-7", "PAN-3"]) for _ in range(20)]

    async def race(store: CartStore) -> None:
        stores = [CartStore(store.redis, store.namespace) for _ in range(4)]
        await asyncio.gather(
            *(
                s.apply([e for h in histories for e in h[:length]])
                for s, length in zip(stores * 2, [1, 4, 2, 3, 4, 3, 2, 1], strict=True)
            )
        )

    with_store(settings, race)
    stored = snapshot(settings)
    for history in histories:
        key = f"{settings.namespace}:cart:{history[0].aggregate_id}"
        assert stored[key] == fold(None, history)


def carts_api(settings: Settings, applied: AppliedPosition, wait_seconds: float) -> FastAPI:
    """The carts router alone, as the lead will mount it in the read API."""
    client = Redis.from_url(settings.redis_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    api = FastAPI(lifespan=lifespan)
    api.include_router(carts_read_api.router(client, settings.namespace, applied, wait_seconds))
    install_problem_handlers(api)
    return with_access(api, settings)


@pytest.fixture
def read_api(settings: Settings) -> Iterator[tuple[TestClient, list[int]]]:
    """The carts read API with an applied position the test sets."""
    applied = [0]

    async def applied_position() -> int:
        return applied[0]

    with TestClient(
        carts_api(settings, applied_position, wait_seconds=0.2), headers=as_admin(settings)
    ) as test_client:
        yield test_client, applied


def test_a_cart_and_a_customers_open_cart_can_be_read(
    settings: Settings, read_api: tuple[TestClient, list[int]]
) -> None:
    client, _ = read_api
    checked_out = a_cart_history(ALICE, ["PAN-3"], check_out=True)
    open_cart = a_cart_history(ALICE, ["MUG-1", "MUG-1"])
    with_store(settings, lambda store: store.apply(checked_out + open_cart))

    cart_id = open_cart[0].aggregate_id
    response = client.get(f"/carts/{cart_id}")
    assert response.status_code == 200
    assert response.json() == {
        "id": cart_id,
        "customer_id": str(ALICE),
        "lines": [{"sku": "MUG-1", "quantity": 3}],
        "status": "open",
        "version": 3,
    }
    assert response.headers["Shop-Stale"] == "false"
    assert client.get(f"/carts/{checked_out[0].aggregate_id}").json()["status"] == "checked_out"
    assert client.get(f"/customers/{ALICE}/cart").json()["id"] == cart_id

    missing = client.get(f"/customers/{BOB}/cart")
    assert missing.status_code == 404
    assert missing.json()["code"] == "open_cart_not_found"
    assert missing.headers["content-type"] == "application/problem+json"
    unknown = client.get(f"/carts/{uuid4()}")
    assert (unknown.status_code, unknown.json()["code"]) == (
        404,
        "not_found",
    )  # as the command API says it


def test_bad_ids_and_positions_are_422_naming_the_field(
    read_api: tuple[TestClient, list[int]],
) -> None:
    client, _ = read_api
    for url, field in [
        ("/carts/not-a-uuid", "path.cart_id"),
        ("/customers/42/cart", "path.customer_id"),
        (f"/carts/{uuid4()}?after=-1", "query.after"),
        (f"/customers/{ALICE}/cart?after=soon", "query.after"),
    ]:
        response = client.get(url)
        assert response.status_code == 422, url
        assert [e["field"] for e in response.json()["errors"]] == [field]


def test_reading_after_a_position_not_yet_applied_says_it_is_stale(
    settings: Settings, read_api: tuple[TestClient, list[int]]
) -> None:
    client, applied = read_api
    history = a_cart_history(ALICE, ["MUG-1"])
    with_store(settings, lambda store: store.apply(history))
    applied[0] = 7

    stale = client.get(f"/customers/{ALICE}/cart", params={"after": 8})
    assert stale.status_code == 200
    assert (stale.headers["Shop-Stale"], stale.headers["Shop-Applied-Position"]) == ("true", "7")
    fresh = client.get(f"/carts/{history[0].aggregate_id}", params={"after": 7})
    assert fresh.headers["Shop-Stale"] == "false"
    not_yet = client.get(f"/carts/{uuid4()}", params={"after": 9})
    assert (not_yet.status_code, not_yet.headers["Shop-Stale"]) == (404, "true")


# --- through the carts application: rebuild and the worker ---------------------------------


@pytest.fixture
def carts_app(settings: Settings) -> Iterator[CartsApplication]:
    app = bootstrap.application(settings, "carts")
    assert isinstance(app, CartsApplication)
    try:
        yield app
    finally:
        app.close()


def shop(app: CartsApplication, rng: random.Random, cart_ids: list[UUID], stop: Stop) -> None:
    """Random customer activity until ``stop`` says so."""
    while not stop():
        cart_id = rng.choice(cart_ids)
        try:
            if rng.random() < 0.05:
                app.check_out(cart_id)
            else:
                sku = rng.choice(["MUG-1", "TEA-7", "PAN-3"])
                app.add_item(cart_id, sku, 1)
        except DomainError:
            continue  # checked out, or a full line


def steps(n: int) -> Stop:
    left = [n]

    def stop() -> bool:
        left[0] -= 1
        return left[0] < 0

    return stop


def event_store_carts(settings: Settings, app: CartsApplication) -> dict[str, Any]:
    """What the event store says, as (customer, lines, status, version) per cart key."""
    ids = {n.originator_id for n in app.recorder.select_notifications(1, 100_000)}
    carts = (app.get_cart(UUID(str(i))) for i in ids)
    return {
        f"{settings.namespace}:cart:{c.id}": (
            str(c.customer_id),
            [{"sku": s, "quantity": q} for s, q in c.lines.items()],
            "checked_out" if c.checked_out else "open",
            c.version,
        )
        for c in carts
    }


def stored_carts(settings: Settings) -> dict[str, Any]:
    return {
        key: (v["customer_id"], v["lines"], v["status"], v["version"])
        for key, v in snapshot(settings).items()
        if ":cart:" in key
    }


def test_a_rebuild_refills_the_read_model_and_clears_what_the_log_does_not_know(
    settings: Settings, carts_app: CartsApplication
) -> None:
    ids = [carts_app.create_cart(c, None).id for c in (ALICE, BOB)] * 2
    shop(carts_app, random.Random(5), ids, steps(40))
    assert asyncio.run(rebuild(settings, CARTS)).outcome == "rebuilt with 2 carts"
    rebuilt = snapshot(settings)
    assert stored_carts(settings) == event_store_carts(settings, carts_app)

    ns = settings.namespace
    damage = redis.Redis.from_url(settings.redis_url)
    first = rebuilt[f"{ns}:cart:{ids[0]}"]
    damage.set(f"{ns}:cart:{ids[0]}", encode({**first, "lines": [], "customer_id": None}))
    damage.delete(f"{ns}:cart:{ids[1]}")
    orphan = str(uuid4())
    damage.set(f"{ns}:cart:{orphan}", encode({**first, "id": orphan}))
    damage.sadd(f"{ns}:customer-carts:{BOB}", str(uuid4()))
    damage.close()

    asyncio.run(rebuild(settings, CARTS))
    assert snapshot(settings) == rebuilt


def test_carts_filled_through_the_application_reach_redis_and_survive_a_worker_kill(
    settings: Settings, processes: Supervisor, carts_app: CartsApplication
) -> None:
    ids = [carts_app.create_cart(uuid4(), None).id for _ in range(15)]
    start(processes, settings, "relay")
    start(processes, settings, "worker")
    cart_id = ids[0]
    added = carts_app.add_item(cart_id, "MUG-1", 2)
    customer = carts_app.get_cart(cart_id).customer_id

    checkpoints = bootstrap.projection_checkpoints(settings)

    async def applied() -> int:
        positions = await checkpoints.positions(CARTS, "carts")
        return complete_up_to(positions, settings.kafka_partitions)

    def customer_cart_after(client: TestClient, position: int) -> dict[str, Any] | None:
        response = client.get(f"/customers/{customer}/cart", params={"after": position})
        return response.json() if response.headers["Shop-Stale"] == "false" else None

    with TestClient(
        carts_api(settings, applied, wait_seconds=2.0), headers=as_admin(settings)
    ) as client:
        shown = eventually(
            lambda: customer_cart_after(client, added.position),
            what="the added item is visible after its position",
        )
    assert shown["lines"] == [{"sku": "MUG-1", "quantity": 2}]
    assert shown["version"] == added.version

    done = threading.Event()
    writer = threading.Thread(target=shop, args=(carts_app, random.Random(11), ids, done.is_set))
    writer.start()
    eventually(lambda: len(stored_carts(settings)) == len(ids), what="every cart projected")

    # Counted, not timed, so a busy machine changes only how long it takes: the kill lands
    # mid-stream and more writes follow the restart.
    def head() -> int:
        return carts_app.recorder.max_notification_id() or 0

    eventually(lambda: head() > 60, what="writes flowing before the kill")
    os.kill(processes._child("worker").process.pid, signal.SIGKILL)
    processes.stop("worker")
    start(processes, settings, "worker")
    killed_at = head()
    eventually(lambda: head() > max(killed_at + 40, 101), what="writes after the restart")
    done.set()
    writer.join()

    assert (carts_app.recorder.max_notification_id() or 0) > 100  # a stream, not a trickle
    expected = event_store_carts(settings, carts_app)
    eventually(
        lambda: stored_carts(settings) == expected,
        timeout=120,
        what="the read model equals the event store",
    )
    live = snapshot(settings)
    asyncio.run(rebuild(settings, CARTS))
    assert snapshot(settings) == live
