"""The envelope: what goes on the bus, and what consumers refuse."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from eventsourcing.domain import Aggregate, event

from contract.envelope import SCHEMA_VERSION, Envelope, MalformedEnvelope, envelope_for
from contract.metadata import EventMetadata
from domain.money import Money
from tests.support.unit_catalog import a_product


def product_events() -> list[Any]:
    product = a_product(
        "KB-1", name="Keyboard", brand="Keyforge", category="computers", price=Money(9900, "EUR")
    )
    product.change_price(Money(8900, "EUR"))
    return list(product.collect_events())


def test_an_envelope_carries_identity_order_tracing_and_a_json_payload() -> None:
    added, _ = product_events()
    envelope = envelope_for("catalog", added, 7, EventMetadata("corr-1", "cause-1"))

    assert envelope.type == "catalog.ProductAdded"
    assert envelope.schema_version == SCHEMA_VERSION
    assert (envelope.aggregate_id, envelope.aggregate_version) == (str(added.originator_id), 1)
    assert envelope.position == 7
    assert (envelope.correlation_id, envelope.causation_id) == ("corr-1", "cause-1")
    assert envelope.payload["price"] == {"minor": 9900, "currency": "EUR"}
    assert envelope.key == str(added.originator_id).encode()
    assert Envelope.from_json(envelope.to_json()) == envelope


def test_the_event_id_is_the_same_for_every_copy_of_the_same_event() -> None:
    added, changed = product_events()
    first = envelope_for("catalog", added, 1, None)
    again = envelope_for("catalog", added, 1, None)
    assert first.event_id == again.event_id
    assert envelope_for("catalog", changed, 2, None).event_id != first.event_id


def test_fields_an_event_declares_private_never_reach_the_bus() -> None:
    class Customer(Aggregate):
        class Registered(Aggregate.Created):
            private_fields: ClassVar[tuple[str, ...]] = ("email",)
            email: str
            tier: str

        @event(Registered)
        def __init__(self, email: str, tier: str) -> None:
            self.email = email
            self.tier = tier

    (registered,) = Customer(email="ada@example.org", tier="gold").collect_events()
    envelope = envelope_for("identity", registered, 1, None)

    assert envelope.payload == {"tier": "gold"}
    assert b"ada@example.org" not in envelope.to_json()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"schema_version": 99}).encode(),
        json.dumps({"schema_version": 1, "type": "x"}).encode(),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(MalformedEnvelope):
        Envelope.from_json(raw)
