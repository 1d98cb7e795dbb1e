"""The relay against real Postgres and a real Kafka-protocol broker."""

from __future__ import annotations

from collections import Counter, defaultdict
from contextlib import closing

import pytest

from commands.metadata import caused_by
from domain.money import Money
from infra import bootstrap
from infra.settings import Settings
from tests.support.catalog import a_product, add_products
from tests.support.kafka import read_topic

pytestmark = pytest.mark.integration


def test_the_relay_publishes_every_event_once_in_order_per_aggregate(settings: Settings) -> None:
    with caused_by("corr-42"):
        ids = add_products(settings, (a_product(f"SKU-{i}", "Lamp") for i in range(20)))
    catalog = bootstrap.catalog(settings)
    for product_id in ids[:5]:
        for cents in (1100, 1200):
            catalog.change_price(product_id, Money(cents, "EUR"))
    catalog.close()

    with closing(bootstrap.relay(settings, "catalog")) as relay:
        assert relay.catch_up() == 30
        assert relay.catch_up() == 0  # nothing new: nothing published again

    envelopes = read_topic(settings.kafka_bootstrap, settings.topic("catalog"), expected=30)
    assert len(envelopes) == 30
    assert sorted(e.position for e in envelopes) == sorted({e.position for e in envelopes})
    versions = defaultdict(list)
    for envelope in envelopes:
        versions[envelope.aggregate_id].append(envelope.aggregate_version)
    assert all(v == sorted(v) for v in versions.values())  # per-aggregate order kept
    assert {e.correlation_id for e in envelopes if e.type == "catalog.ProductAdded"} == {"corr-42"}
    assert relay.checkpoints.get("catalog") == max(e.position for e in envelopes)


def test_a_relay_that_stops_before_its_checkpoint_republishes_and_never_skips(
    settings: Settings,
) -> None:
    add_products(settings, (a_product(f"A-{i}") for i in range(3)))
    with closing(bootstrap.relay(settings, "catalog")) as first:
        assert first.catch_up() == 3
    first.checkpoints.reset("catalog")  # as if it crashed after publishing, before saving
    add_products(settings, [a_product("A-3")])

    with closing(bootstrap.relay(settings, "catalog")) as second:
        assert second.catch_up() == 4

    envelopes = read_topic(settings.kafka_bootstrap, settings.topic("catalog"), expected=7)
    copies = Counter(e.payload["sku"] for e in envelopes)
    # At-least-once: the unsaved batch comes again, and nothing is missing.
    assert copies == {"A-0": 2, "A-1": 2, "A-2": 2, "A-3": 1}
    assert len({e.event_id for e in envelopes}) == 4


def test_commands_succeed_while_the_relay_is_not_running(settings: Settings) -> None:
    add_products(settings, [a_product("OFFLINE-1"), a_product("OFFLINE-2")])
    with closing(bootstrap.relay(settings, "catalog")) as relay:
        assert relay.catch_up() == 2
