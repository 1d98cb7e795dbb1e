"""What the real relay publishes is what the AsyncAPI document says: key, headers and payload
of every message, across contexts, read back from the broker as a consumer team would."""

from __future__ import annotations

import json
import time
from contextlib import closing
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from infra import apps, bootstrap
from infra.settings import Settings
from tests.support.auth import as_admin, as_customer

pytestmark = pytest.mark.integration

CONTEXTS = ("catalog", "identity", "carts")


def test_every_published_message_matches_the_bus_document(settings: Settings) -> None:
    with TestClient(apps.command_api(settings)) as command:
        admin = as_admin(settings)
        product = {"sku": "BUS-1", "name": "Lamp", "brand": "B", "category": "misc"}
        price = {"amount": "12.50", "currency": "EUR"}
        added = command.post("/products", json={**product, "price": price}, headers=admin)
        assert added.status_code == 201, added.text
        repriced = command.post(
            f"/products/{added.json()['id']}/price",
            json={"price": {"amount": "11.00", "currency": "EUR"}},
            headers=admin,
        )
        assert repriced.status_code == 200, repriced.text
        user = {"email": "bus@example.com", "password": "a long passphrase", "display_name": "B"}
        registered = command.post("/users", json=user)
        assert registered.status_code == 201, registered.text
        customer = as_customer(settings, registered.json()["id"])
        cart = command.post(
            "/carts", json={"customer_id": registered.json()["id"]}, headers=customer
        )
        assert cart.status_code == 201, cart.text
        item = {"sku": "BUS-1", "quantity": 2}
        assert (
            command.post(
                f"/carts/{cart.json()['id']}/items", json=item, headers=customer
            ).status_code
            == 200
        )
    with TestClient(apps.read_api(settings)) as read:
        document = read.get("/asyncapi.json").json()

    checked = 0
    for context in CONTEXTS:
        with closing(bootstrap.relay(settings, context)) as relay:
            published = relay.catch_up()
        assert published > 0
        channel = document["channels"][context]
        assert channel["address"] == settings.topic(context)
        messages = [_message(document, ref) for ref in channel["messages"].values()]
        for record in _records(settings.kafka_bootstrap, settings.topic(context), published):
            headers = {name: value.decode() for name, value in record.headers or ()}
            if record.key is None:  # a watermark: no key, an empty value
                watermark = _named(messages, "watermark")
                jsonschema.validate(headers, watermark["headers"])
                jsonschema.validate(record.value.decode(), watermark["payload"])
                continue
            envelope = json.loads(record.value)
            message = _named(messages, envelope["type"])
            jsonschema.validate(envelope, message["payload"])
            jsonschema.validate(headers, message["headers"])
            jsonschema.validate(record.key.decode(), message["bindings"]["kafka"]["key"])
            assert record.key.decode() == envelope["aggregate_id"]
            checked += 1
    assert checked >= 5  # product added and repriced, user registered, cart opened and filled


def _message(document: dict[str, Any], reference: dict[str, str]) -> dict[str, Any]:
    name = reference["$ref"].removeprefix("#/components/messages/")
    message: dict[str, Any] = document["components"]["messages"][name]
    return message


def _named(messages: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (message,) = [m for m in messages if m["name"] == name]
    return message


def _records(bootstrap_servers: str, topic: str, events: int, timeout: float = 20.0) -> list[Any]:
    """Every record of the topic, watermarks included, once ``events`` events have arrived."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, consumer_timeout_ms=500
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while sum(r.key is not None for r in records) < events and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()
