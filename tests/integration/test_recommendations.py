"""Recommendations in the real Redis, filtered by the real search index: counted once per
confirmed order, taken back on cancellation, rebuilt equal from the event store."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from commands.inventory.application import InventoryApplication
from commands.orders.application import OrdersApplication
from contract.envelope import Envelope
from domain.money import Money
from domain.orders import OrderLine
from domain.sku import sku_id
from infra import apps, bootstrap
from infra.read_models import rebuild
from infra.settings import Settings
from projections.sinks.product_index import PRODUCT_SEARCH
from projections.sinks.redis_recommendations import (
    RECOMMENDATIONS,
    RebuildRunning,
    RecommendationsProjector,
    RecommendationStore,
)
from streams.relay import envelopes
from tests.support.auth import as_admin, as_customer
from tests.support.catalog import a_product, add_products
from tests.support.platform import run_cli

pytestmark = pytest.mark.integration

LAMP, BULB, SHADE, CABLE = "LAMP-1", "BULB-1", "SHADE-1", "CABLE-1"  # CABLE: out of stock


def pid(sku: str) -> str:
    return str(sku_id(sku))


@pytest.fixture
def catalog_in_index(settings: Settings) -> None:
    add_products(settings, [a_product(s) for s in (LAMP, BULB, SHADE, CABLE)])
    inventory = bootstrap.application(settings, "inventory")
    assert isinstance(inventory, InventoryApplication)
    try:
        for sku in (LAMP, BULB, SHADE):
            inventory.receive(sku, 5, None)
    finally:
        inventory.close()

    asyncio.run(rebuild(settings, PRODUCT_SEARCH))


def buy(orders: OrdersApplication, customer: UUID, *skus: str, confirm: bool = True) -> UUID:
    lines = [OrderLine(sku, 1, Money(300, "EUR")) for sku in skus]
    order = orders.place_order(customer, uuid4(), lines, None).id
    if confirm:
        orders.mark_stock_reserved(order)
        orders.mark_payment_authorized(order, uuid4())
        orders.confirm(order)
    return order


ALICE, BOB, EVE, DAVE, CAROL = (uuid4() for _ in range(5))


def some_purchases(orders: OrdersApplication) -> None:
    buy(orders, ALICE, LAMP, BULB)
    buy(orders, BOB, LAMP, SHADE, CABLE)
    buy(orders, EVE, LAMP, SHADE)
    buy(orders, CAROL, LAMP, BULB, confirm=False)  # placed only: not a purchase
    regretted = buy(orders, DAVE, LAMP, BULB)
    orders.cancel(regretted, "changed my mind")  # confirmed, then cancelled: taken back


def log_of(orders: OrdersApplication) -> list[Envelope]:
    return envelopes(orders, orders.recorder.select_notifications(1, 100_000))


def project(settings: Settings, *batches: list[Envelope]) -> None:
    async def go() -> None:
        projector = RecommendationsProjector(Redis.from_url(settings.redis_url), settings.namespace)
        await projector.start()
        try:
            for batch in batches:
                await projector.apply(batch)
        finally:
            await projector.close()

    asyncio.run(go())


def dump(settings: Settings) -> dict[str, Any]:
    """Every recommendation key of this namespace with its content."""
    client = SyncRedis.from_url(settings.redis_url, decode_responses=True)
    prefix = f"{{{settings.namespace}:reco}}:"
    found: dict[str, Any] = {}
    for key in client.scan_iter(prefix + "*"):
        kind = client.type(key)
        found[key] = (
            client.hgetall(key) if kind == "hash" else client.zrange(key, 0, -1, withscores=True)
        )
    client.close()
    return found


def also(settings: Settings, sku: str) -> dict[str, float]:
    async def go() -> list[tuple[str, float]]:
        client = Redis.from_url(settings.redis_url)
        try:
            return await RecommendationStore(client, settings.namespace).also_bought(pid(sku), 10)
        finally:
            await client.aclose()

    return dict(asyncio.run(go()))


def test_co_purchases_count_each_confirmed_order_once(
    settings: Settings, orders: OrdersApplication
) -> None:
    some_purchases(orders)
    log = log_of(orders)

    project(settings, log, log[5:], list(reversed(log)), log)  # redelivered, out of order

    assert also(settings, LAMP) == {pid(SHADE): 2, pid(BULB): 1, pid(CABLE): 1}
    assert also(settings, BULB) == {pid(LAMP): 1}


def test_the_read_api_recommends_what_is_in_stock_and_not_yet_bought(
    settings: Settings, orders: OrdersApplication, catalog_in_index: None
) -> None:
    some_purchases(orders)
    project(settings, log_of(orders))

    with TestClient(apps.read_api(settings)) as client:
        for_lamp = client.get(
            f"/products/{pid(LAMP)}/recommendations", headers=as_customer(settings, ALICE)
        ).json()
        assert [(i["sku"], i["bought_together"]) for i in for_lamp["items"]] == [
            (SHADE, 2),
            (BULB, 1),
        ]  # CABLE was bought with it but is out of stock
        for_alice = client.get(
            f"/customers/{ALICE}/recommendations", headers=as_customer(settings, ALICE)
        ).json()
        assert for_alice["basis"] == "history"
        assert [i["sku"] for i in for_alice["items"]] == [SHADE]  # not LAMP, BULB: hers
        someone = uuid4()
        newcomer = client.get(
            f"/customers/{someone}/recommendations?limit=2", headers=as_customer(settings, someone)
        ).json()
        assert newcomer["basis"] == "popular"
        assert [i["sku"] for i in newcomer["items"]] == [LAMP, SHADE]

        unknown = client.get(
            f"/products/{uuid4()}/recommendations", headers=as_customer(settings, ALICE)
        )
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")
        assert (
            client.get(
                f"/products/{pid(LAMP)}/recommendations?limit=0",
                headers=as_customer(settings, ALICE),
            ).status_code
            == 422
        )
        assert (
            client.get(
                "/customers/not-an-id/recommendations", headers=as_admin(settings)
            ).status_code
            == 422
        )


def test_a_rebuild_from_the_event_store_equals_the_live_projection(
    settings: Settings, orders: OrdersApplication
) -> None:
    some_purchases(orders)
    project(settings, log_of(orders))
    live = dump(settings)

    async def stray_then_rebuild() -> None:
        client = Redis.from_url(settings.redis_url)
        await client.zincrby(f"{{{settings.namespace}:reco}}:also:{pid(LAMP)}", 5, "stray")
        await rebuild(settings, RECOMMENDATIONS)
        await client.aclose()

    asyncio.run(stray_then_rebuild())

    assert dump(settings) == live


def test_live_writes_wait_while_a_rebuild_runs(
    settings: Settings, orders: OrdersApplication
) -> None:
    buy(orders, ALICE, LAMP, BULB)
    client = SyncRedis.from_url(settings.redis_url)
    client.set(f"{{{settings.namespace}:reco}}:rebuilding", "1")
    client.close()

    with pytest.raises(RebuildRunning):
        project(settings, log_of(orders))
    assert also(settings, LAMP) == {}


def test_the_cli_rebuilds_the_recommendations(
    settings: Settings, orders: OrdersApplication
) -> None:
    some_purchases(orders)
    result = run_cli(settings, "projections", "rebuild", "recommendations")
    assert result.returncode == 0, result.stderr
    head = orders.recorder.max_notification_id()
    assert f"recommendations: rebuilt up to position {head}" in result.stdout
    assert also(settings, LAMP) == {pid(SHADE): 2, pid(BULB): 1, pid(CABLE): 1}


def test_a_customer_whose_purchases_pair_with_nothing_gets_the_best_sellers(
    settings: Settings, orders: OrdersApplication, catalog_in_index: None
) -> None:
    frank = uuid4()
    buy(orders, ALICE, LAMP, BULB)
    buy(orders, EVE, LAMP, SHADE)
    buy(orders, frank, CABLE)  # bought with nothing else, by anyone
    project(settings, log_of(orders))

    with TestClient(apps.read_api(settings)) as client:
        answer = client.get(
            f"/customers/{frank}/recommendations", headers=as_customer(settings, frank)
        ).json()
    assert answer["basis"] == "popular"
    skus = [i["sku"] for i in answer["items"]]
    assert skus[0] == LAMP
    assert sorted(skus) == sorted([LAMP, BULB, SHADE])
