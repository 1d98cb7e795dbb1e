"""The AsyncAPI document of the bus: valid AsyncAPI 3.0, and true to the envelopes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from contract.asyncapi import asyncapi_document, message_name
from contract.envelope import envelope_for
from contract.metadata import EventMetadata
from contract.payloads import PUBLISHED, published_events
from domain.catalog import Product
from domain.identity.user import User
from domain.money import Money
from infra.settings import Settings

OFFICIAL_SCHEMA = Path(__file__).parent.parent / "support" / "asyncapi" / "3.0.0.schema.json"
SETTINGS = Settings(namespace="shop")


@pytest.fixture(scope="module")
def asyncapi_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(OFFICIAL_SCHEMA.read_text()))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document(SETTINGS.topic)


def test_the_bus_document_is_valid_asyncapi_3(
    asyncapi_validator: jsonschema.Draft7Validator, document: dict[str, Any]
) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in asyncapi_validator.iter_errors(document)
    ]
    assert errors == []


def test_the_official_schema_refuses_a_broken_document(
    asyncapi_validator: jsonschema.Draft7Validator, document: dict[str, Any]
) -> None:
    broken = copy.deepcopy(document)
    broken["channels"]["catalog"]["address"] = 42
    del broken["info"]["title"]
    assert len(list(asyncapi_validator.iter_errors(broken))) >= 2


def test_every_context_has_its_topic_as_a_channel(document: dict[str, Any]) -> None:
    assert {name: c["address"] for name, c in document["channels"].items()} == {
        context: SETTINGS.topic(context) for context in PUBLISHED
    }


def test_every_event_type_and_version_has_one_message(document: dict[str, Any]) -> None:
    names = {message_name(p) for p in published_events()}
    assert {"catalog.ProductAdded.v2", "orders.OrderPlaced.v2"} <= names
    assert set(document["components"]["messages"]) == names | {"watermark"}


def test_an_envelope_matches_the_schema_of_its_message(document: dict[str, Any]) -> None:
    product = a_keyboard()
    product.change_price(Money(8900, "EUR"))
    metadata = EventMetadata("corr-1", "cause-1")
    for position, event in enumerate(product.collect_events(), start=1):
        envelope = json.loads(envelope_for("catalog", event, position, metadata).to_json())
        jsonschema.validate(envelope, schema_for(document, envelope))


def test_a_payload_that_breaks_its_schema_is_refused(document: dict[str, Any]) -> None:
    (added,) = a_keyboard().collect_events()
    envelope = json.loads(envelope_for("catalog", added, 1, None).to_json())
    envelope["payload"]["price"] = "9.99"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(envelope, schema_for(document, envelope))


def test_private_fields_are_not_part_of_the_contract() -> None:
    registered = {p.type: p for p in published_events()}["identity.UserRegistered"]
    assert set(User.Registered.private_fields).isdisjoint(registered.schema["properties"])


def a_keyboard() -> Product:
    return Product("KB-1", "Keyboard", "", "Keyforge", "computers", Money(9900, "EUR"))


def schema_for(document: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
    """The payload schema of the one message of the envelope's event type."""
    (message,) = [
        m for m in document["components"]["messages"].values() if m["name"] == envelope["type"]
    ]
    schema: dict[str, Any] = message["payload"]
    return schema
