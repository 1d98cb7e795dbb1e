"""Which event gets which e-mail, and what it says: the pure part of notifications."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from contract.envelope import Envelope
from domain.money import Money
from notifications.mailer import _text
from notifications.messages import (
    OrderFacts,
    OrderLine,
    Recipient,
    check,
    compose,
    kind_of,
    message_id,
    render,
)
from tests.support.envelopes import an_envelope

ORDER = "0a1b2c3d-0000-4000-8000-000000000000"
ADA = Recipient("ada@example.com", "Ada")
FACTS = OrderFacts(
    customer_id=uuid4(),
    lines=(OrderLine("HP-1000", 2, Money(1000, "EUR")), OrderLine("MUG-7", 1, Money(550, "EUR"))),
    total=Money(2550, "EUR"),
    refunded=Money(2550, "EUR"),
)


def envelope(kind: str, context: str = "orders", **payload: Any) -> Envelope:
    return an_envelope(
        f"{context}.{kind}", payload, aggregate_id=ORDER, aggregate_version=3, position=9
    )


def test_only_the_five_customer_events_are_mailed() -> None:
    assert kind_of(envelope("UserRegistered", "identity")) == "welcome"
    assert kind_of(envelope("OrderCancelled")) == "order_cancelled"
    assert kind_of(envelope("OrderStockReserved")) is None
    assert kind_of(envelope("UserPreferencesSet", "identity")) is None


def test_a_refund_in_full_says_so_with_the_amounts() -> None:
    mail = render(
        "order_refunded",
        envelope("OrderRefunded", amount={"minor": 550, "currency": "EUR"}),
        ADA,
        FACTS,
    )
    assert mail.subject == "Refund of 5.50 EUR for order 0A1B2C3D"
    assert "refunded in full (25.50 EUR of 25.50 EUR)" in mail.body
    assert mail.body.startswith("Hello Ada,")


def test_no_subject_carries_personal_data_into_the_history() -> None:
    for kind, event in [
        ("welcome", envelope("UserRegistered", "identity")),
        ("order_confirmed", envelope("OrderConfirmed")),
        ("order_cancelled", envelope("OrderCancelled", reason="r")),
        ("order_shipped", envelope("OrderShipped")),
        ("order_refunded", envelope("OrderRefunded", amount={"minor": 1, "currency": "EUR"})),
    ]:
        mail = render(kind, event, ADA, FACTS)
        assert "Ada" not in mail.subject, kind
        assert ADA.address not in mail.subject, kind


def test_a_cancellation_gives_the_reason() -> None:
    mail = render("order_cancelled", envelope("OrderCancelled", reason="card declined"), ADA, FACTS)
    assert "Reason: card declined" in mail.body


def test_the_message_id_is_the_same_for_every_attempt_at_one_event() -> None:
    event = envelope("OrderShipped")
    first = compose(
        render("order_shipped", event, ADA, FACTS), ADA, "Shop <no-reply@shop.example>", event, 0
    )
    again = compose(
        render("order_shipped", event, ADA, FACTS), ADA, "Shop <no-reply@shop.example>", event, 0
    )
    assert first["Message-ID"] == again["Message-ID"] == f"<{event.event_id}@shop.example>"
    assert message_id(envelope("OrderShipped"), "x@shop.example") != first["Message-ID"]


@pytest.mark.parametrize(
    "event",
    [
        envelope("OrderCancelled"),
        envelope("OrderCancelled", reason=7),
        envelope("OrderRefunded", amount="5 EUR"),
        envelope("OrderRefunded", amount={"minor": "5", "currency": "EUR"}),
    ],
)
def test_an_event_that_can_never_be_mailed_is_a_poison_event(event: Envelope) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        check(event)


def test_server_answers_never_carry_an_address_into_logs() -> None:
    assert (
        _text(b"550 5.1.1 <bob@example.com>: user unknown") == "550 5.1.1 <<address>>: user unknown"
    )


def test_the_customers_language_is_used_where_a_template_speaks_it() -> None:
    welcome = envelope("UserRegistered", "identity")
    german = Recipient("ada@example.com", "Ada", language="de")
    assert render("welcome", welcome, german, None).subject == "Willkommen im Shop"
    assert render("order_shipped", envelope("OrderShipped"), german, FACTS).subject == (
        "Order 0A1B2C3D is on its way"  # no German template yet: English
    )
