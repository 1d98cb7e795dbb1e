"""Payment history: folding real payments envelopes into rows, idempotently; and which
events wake the saga for which order."""

from __future__ import annotations

from uuid import UUID, uuid4

from contract.envelope import Envelope, envelope_for
from domain.money import Money
from domain.orders import Order, OrderLine
from domain.payments import Payment
from projections.payment_history import PaymentEntry, PaymentRow, apply
from streams.saga import order_ids
from tests.support.envelopes import an_envelope, envelopes_of

ORDER = UUID("00000000-0000-4000-8000-0000000000a1")
EUR_50 = Money(5000, "EUR")


def payment_envelopes() -> list[Envelope]:
    payment = Payment.authorized(uuid4(), ORDER, EUR_50, "visa", "4242", "auth_1")
    payment.capture(uuid4(), EUR_50, "cap_1")
    payment.refund(uuid4(), Money(2000, "EUR"), "ref_1")
    payment.refund(uuid4(), Money(3000, "EUR"), "ref_2")
    return envelopes_of("payments", payment)


def fold(envelopes: list[Envelope]) -> tuple[PaymentRow | None, list[PaymentEntry]]:
    row: PaymentRow | None = None
    entries: list[PaymentEntry] = []
    for envelope in envelopes:
        change = apply(row, envelope)
        if change is None:
            continue
        row = change.payment or row
        if change.entry:
            entries.append(change.entry)
    return row, entries


def test_a_payment_is_folded_into_its_row_and_history() -> None:
    row, entries = fold(payment_envelopes())

    assert row is not None
    assert (row.order_id, row.status, row.captured_minor, row.refunded_minor, row.version) == (
        ORDER,
        "refunded",
        5000,
        5000,
        4,
    )
    assert [(e.kind, e.amount_minor) for e in entries] == [
        ("authorized", 5000),
        ("captured", 5000),
        ("refunded", 2000),
        ("refunded", 3000),
    ]


def test_every_event_delivered_twice_changes_nothing_the_second_time() -> None:
    envelopes = payment_envelopes()
    once = fold(envelopes)
    twice = fold([e for envelope in envelopes for e in (envelope, envelope)])
    assert twice == once


def test_a_declined_payment_keeps_its_reason() -> None:
    payment = Payment.declined(uuid4(), ORDER, EUR_50, "visa", "4242", "card_expired")
    (event,) = payment.collect_events()
    row, entries = fold([envelope_for("payments", event, 1, None)])
    assert row is not None
    assert (row.status, row.decline_reason) == ("declined", "card_expired")
    assert entries[0].detail == {"reason": "card_expired"}


def test_the_customer_of_a_payment_comes_from_its_order() -> None:
    customer = uuid4()
    order = Order.place(ORDER, customer, uuid4(), [OrderLine("A-1", 1, EUR_50)])
    (placed,) = order.collect_events()
    change = apply(None, envelope_for("orders", placed, 1, None))
    assert change is not None
    assert change.customer is not None
    assert (change.customer.order_id, change.customer.customer_id) == (ORDER, customer)


def test_the_saga_wakes_for_order_events_and_for_stock_lost_behind_its_back() -> None:
    order = Order.place(ORDER, uuid4(), uuid4(), [OrderLine("A-1", 1, EUR_50)])
    (placed,) = order.collect_events()
    assert order_ids(envelope_for("orders", placed, 1, None)) == {ORDER}

    expired = an_envelope(
        "inventory.StockItemReservationExpired",
        {"order_id": str(ORDER), "quantity": 1},
        aggregate_version=3,
        position=9,
    )
    assert order_ids(expired) == {ORDER}
    assert order_ids(payment_envelopes()[0]) == set()
