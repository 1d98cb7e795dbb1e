"""Order history: folding real orders envelopes into order rows and timelines, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from hypothesis import given
from hypothesis import strategies as st

from commands.orders.application import OrdersApplication
from contract.envelope import Envelope, event_type
from domain.errors import DomainError
from domain.money import Money
from domain.orders import Order, OrderStatus
from projections.order_history import SHOWN, OrderRow, TimelineRow, apply
from streams.relay import envelopes as relay_envelopes
from tests.support.envelopes import envelopes_of
from tests.support.unit_orders import CART, CUSTOMER, LINES, TOTAL, a_version_1_placed_event
from tests.support.unit_redelivery import redelivered

Step = Callable[[Order], None]
HAPPY_PATH: list[Step] = [
    Order.mark_stock_reserved,
    lambda o: o.mark_payment_authorized(UUID("00000000-0000-4000-8000-0000000000a1")),
    Order.confirm,
    Order.ship,
    Order.deliver,
]

# What the sink keeps: order rows by id, timeline entries by (order, version).
Model = tuple[dict[UUID, OrderRow], dict[tuple[UUID, int], TimelineRow]]


def envelopes_after(*steps: Step, order: Order | None = None) -> list[Envelope]:
    order = order or Order.place(uuid4(), CUSTOMER, CART, LINES)
    for step in steps:
        step(order)
    return envelopes_of("orders", order)


def deliver(model: Model, envelopes: list[Envelope]) -> Model:
    """Apply envelopes the way the sink does (its SQL guards included)."""
    orders, timeline = dict(model[0]), dict(model[1])
    for envelope in envelopes:
        current = orders.get(UUID(envelope.aggregate_id))
        change = apply(current, envelope)
        if change is None:
            continue
        if change.order and (current is None or current.version < change.order.version):
            orders[change.order.order_id] = change.order
        if change.timeline:
            timeline.setdefault(
                (change.timeline.order_id, change.timeline.version), change.timeline
            )
    return orders, timeline


def fold(envelopes: list[Envelope]) -> Model:
    return deliver(({}, {}), envelopes)


def only_order(model: Model) -> tuple[OrderRow, list[TimelineRow]]:
    (order,) = model[0].values()
    return order, [model[1][key] for key in sorted(model[1])]


def test_a_placed_order_joins_its_customers_history_with_total_and_lines() -> None:
    (placed,) = envelopes_after()
    order, [entry] = only_order(fold([placed]))
    assert (order.customer_id, order.status, order.version) == (CUSTOMER, "placed", 1)
    assert (order.total_minor, order.currency, order.refunded_minor) == (TOTAL, "EUR", 0)
    assert order.placed_at == order.updated_at == datetime.fromisoformat(placed.occurred_at)
    assert (entry.status, entry.amount_minor, entry.version) == ("placed", TOTAL, 1)
    assert entry.detail == {
        "cart_id": str(CART),
        "lines": [
            {"sku": "HP-1000", "quantity": 2, "unit_price_minor": 1999},
            {"sku": "LMP-0001", "quantity": 1, "unit_price_minor": 3490},
        ],
    }


def test_every_step_of_the_lifecycle_is_on_the_timeline_with_its_time() -> None:
    envelopes = envelopes_after(*HAPPY_PATH)
    order, timeline = only_order(fold(envelopes))
    assert [e.status for e in timeline] == [s.value for s in OrderStatus][:6]
    assert [e.occurred_at.isoformat() for e in timeline] == [e.occurred_at for e in envelopes]
    assert timeline[2].detail == {"payment_id": "00000000-0000-4000-8000-0000000000a1"}
    assert (order.status, order.version) == ("delivered", 6)
    assert order.updated_at == timeline[-1].occurred_at
    assert [e.amount_minor for e in timeline[1:]] == [None] * 5


def test_a_cancelled_order_shows_the_reason() -> None:
    order, timeline = only_order(fold(envelopes_after(lambda o: o.cancel("changed my mind"))))
    assert order.status == "cancelled"
    assert (timeline[-1].status, timeline[-1].detail) == (
        "cancelled",
        {"reason": "changed my mind"},
    )


def test_a_partial_refund_keeps_the_status_and_the_rest_makes_it_refunded() -> None:
    first, second = uuid4(), uuid4()
    envelopes = envelopes_after(
        *HAPPY_PATH,
        lambda o: o.refund(first, Money(1000, "EUR")),
        lambda o: o.refund(second, Money(TOTAL - 1000, "EUR")),
    )
    partly, timeline = only_order(fold(envelopes[:-1]))
    assert (partly.status, partly.refunded_minor) == ("delivered", 1000)
    assert (timeline[-1].status, timeline[-1].amount_minor) == ("refunded", 1000)
    assert timeline[-1].detail == {
        "refund_id": str(first),
        "refunded_minor": 1000,
        "in_full": False,
    }
    fully, timeline = only_order(fold(envelopes))
    assert (fully.status, fully.refunded_minor) == ("refunded", TOTAL)
    assert timeline[-1].detail["in_full"] is True
    assert timeline[-1].amount_minor == TOTAL - 1000


def test_an_event_already_applied_changes_nothing() -> None:
    envelopes = envelopes_after(*HAPPY_PATH[:2])
    order, _ = only_order(fold(envelopes))
    for envelope in envelopes:
        assert apply(order, envelope) is None


def test_an_event_the_view_does_not_show_still_advances_the_version() -> None:
    placed, reserved = envelopes_after(HAPPY_PATH[0])
    unknown = replace(reserved, type="orders.OrderGiftWrapped", payload={"paper": "red"})
    order, timeline = only_order(fold([placed, unknown]))
    assert (order.version, order.status, order.updated_at) == (2, "placed", order.placed_at)
    assert [e.version for e in timeline] == [1]


def test_events_of_other_contexts_are_ignored() -> None:
    (placed,) = envelopes_after()
    assert apply(None, replace(placed, context="carts", type="carts.OrderPlaced")) is None


def test_a_step_for_an_order_never_placed_here_only_lands_on_the_timeline() -> None:
    _, reserved = envelopes_after(HAPPY_PATH[0])
    change = apply(None, reserved)
    assert change is not None
    assert change.order is None
    assert change.timeline is not None
    assert change.timeline.status == "stock_reserved"


def test_every_order_event_has_a_timeline_entry() -> None:
    """Guards the type names against renames of the domain's event classes."""
    events = {
        event_type("orders", cls.__new__(cls))
        for name, cls in vars(Order).items()
        if isinstance(cls, type)
        and issubclass(cls, Aggregate.Event)
        and name not in ("Event", "Created")  # the library's bases, never recorded as such
    }
    assert events == SHOWN


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda p: p.pop("customer_id"), KeyError),
        (lambda p: p.update(customer_id="not-a-uuid"), ValueError),
        (lambda p: p.update(total={"minor": "12", "currency": "EUR"}), TypeError),
        (lambda p: p.update(total={"minor": 2**70, "currency": "EUR"}), ValueError),
        (lambda p: p.update(lines=[{"sku": "A", "quantity": 1}]), KeyError),
    ],
)
def test_a_placed_event_this_view_can_never_store_is_poison(
    change: Callable[[dict[str, object]], object], error: type[Exception]
) -> None:
    (placed,) = envelopes_after()
    payload = dict(placed.payload)
    change(payload)
    with pytest.raises(error):
        apply(None, replace(placed, payload=payload))


def test_a_timestamp_without_offset_or_a_bad_aggregate_id_is_poison() -> None:
    (placed,) = envelopes_after()
    with pytest.raises(ValueError, match="UTC offset"):
        apply(None, replace(placed, occurred_at="2025-01-01T10:00:00"))
    with pytest.raises(ValueError, match="badly formed"):
        apply(None, replace(placed, aggregate_id="42"))


def test_text_postgres_would_refuse_is_made_storable() -> None:
    envelopes = envelopes_after(lambda o: o.cancel("oops\x00"))
    _, timeline = only_order(fold(envelopes))
    assert timeline[-1].detail == {"reason": "oops\ufffd"}


def test_an_order_placed_in_the_version_1_shape_is_shown_like_a_new_one() -> None:
    app = OrdersApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    order_id = uuid4()
    app.recorder.insert_events([a_version_1_placed_event(app, order_id)])
    envelopes = relay_envelopes(app, app.recorder.select_notifications(start=1, limit=10))
    order, [entry] = only_order(fold(envelopes))
    assert (order.total_minor, order.currency) == (TOTAL, "EUR")
    assert order.placed_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [line["unit_price_minor"] for line in entry.detail["lines"]] == [1999, 3490]


ACTIONS: list[Step] = [
    *HAPPY_PATH,
    lambda o: o.cancel("out of stock"),
    lambda o: o.refund(uuid4(), Money(2000, "EUR")),
    lambda o: o.refund(uuid4(), Money(o.total.minor - o.refunded.minor, "EUR")),
]


@given(
    choices=st.lists(st.integers(min_value=0, max_value=len(ACTIONS) - 1), max_size=12),
    data=st.data(),
)
def test_redelivering_any_prefix_in_order_gives_the_same_history(
    choices: list[int], data: st.DataObject
) -> None:
    """At-least-once delivery: any prefix may come again, in order, any number of times."""
    order = Order.place(uuid4(), CUSTOMER, CART, LINES)
    for choice in choices:
        with suppress(DomainError):  # an illegal step records no event
            ACTIONS[choice](order)
    envelopes = envelopes_after(order=order)
    delivered = redelivered(envelopes, data)

    model = fold(delivered)
    assert model == fold(envelopes)
    row, timeline = only_order(model)
    assert (row.status, row.version) == (order.status.value, order.version)
    assert row.refunded_minor == order.refunded.minor
    assert [e.version for e in timeline] == list(range(1, order.version + 1))
