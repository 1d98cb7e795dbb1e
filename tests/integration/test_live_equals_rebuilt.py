"""Property: for any sequence of commands, the live read models equal the rebuilt ones.

Commands run through the application services (as the command API runs them), across
catalog, inventory, carts and orders, refused ones included. The relay and the worker run as
real processes. After each sequence, once every projection has caught up, each read model is
read in full, rebuilt from the event store with `shop projections rebuild`'s functions, and
read again: the two must be identical. Sequences accumulate in one namespace, so later ones
change what earlier ones built.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID, uuid4

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from psycopg import sql
from redis import Redis

from commands.carts.application import CartsApplication
from commands.catalog.application import CatalogApplication
from commands.inventory.application import InventoryApplication
from commands.models import Amount
from commands.orders.application import OrdersApplication
from commands.payments.application import PaymentsApplication
from domain.errors import DomainError
from domain.money import Money
from domain.orders import OrderLine
from domain.orders.order import Order
from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.read_models import REBUILDABLE, rebuild
from infra.settings import Settings
from infra.status import projection_status
from tests.support.catalog import a_product
from tests.support.platform import eventually, indexed_products, start

pytestmark = pytest.mark.integration

SKUS = ("LR-A", "LR-B", "LR-C")
CUSTOMERS = tuple(UUID(int=n) for n in range(1, 4))
# The Postgres schemas (per namespace) that hold read models.
READ_SCHEMAS = ("read", "analytics")

sku = st.sampled_from(SKUS)
index = st.integers(min_value=0, max_value=5)
quantity = st.integers(min_value=1, max_value=5)
cents = st.integers(min_value=1, max_value=50_000)
# (weight, command): weights favour the steps that lead to carts with lines and orders.
STEPS = [
    (2, st.tuples(st.just("add"), sku)),
    (1, st.tuples(st.just("price"), sku, cents)),
    (1, st.tuples(st.just("rename"), sku, st.sampled_from(["Kettle", "Teapot", "Mug"]))),
    (1, st.tuples(st.just("discontinue"), sku)),
    (1, st.tuples(st.just("reinstate"), sku)),
    (2, st.tuples(st.just("receive"), sku, quantity)),
    (2, st.tuples(st.just("cart"), st.sampled_from(CUSTOMERS))),
    (4, st.tuples(st.just("add_item"), index, sku, quantity)),
    (1, st.tuples(st.just("change"), index, sku, quantity)),
    (1, st.tuples(st.just("remove"), index, sku)),
    (3, st.tuples(st.just("order"), index)),
    (2, st.tuples(st.just("reserve"), index)),
    (1, st.tuples(st.just("release"), index)),
    (2, st.tuples(st.just("paid"), index)),
    (3, st.tuples(st.sampled_from(["confirm", "ship", "deliver"]), index)),
    (1, st.tuples(st.just("cancel"), index)),
    (1, st.tuples(st.just("refund"), index, cents)),
    (2, st.tuples(st.just("authorize"), index, st.sampled_from(["approve", "decline_no_funds"]))),
    (1, st.tuples(st.just("capture"), index)),
    (1, st.tuples(st.just("void"), index)),
    (1, st.tuples(st.just("refund_payment"), index, cents)),
]
step = st.one_of(*(strategy for weight, strategy in STEPS for _ in range(weight)))


@dataclass
class Shop:
    """The applications the commands go to, and the ids they have made so far."""

    catalog: CatalogApplication
    inventory: InventoryApplication
    carts: CartsApplication
    orders: OrdersApplication
    payments: PaymentsApplication
    products: dict[str, UUID] = field(default_factory=dict)
    cart_ids: list[UUID] = field(default_factory=list)
    order_ids: list[UUID] = field(default_factory=list)
    payment_ids: list[UUID] = field(default_factory=list)

    def run(self, command: tuple[Any, ...]) -> None:
        """Run one command; a refused command (a domain error) is part of the sequence too."""
        with contextlib.suppress(DomainError):
            getattr(self, "do_" + command[0])(*command[1:])

    def do_add(self, sku: str) -> None:
        self.products[sku] = self.catalog.add_product(a_product(sku)).id

    def do_price(self, sku: str, minor: int) -> None:
        if sku in self.products:
            self.catalog.change_price(self.products[sku], Money(minor, "EUR"))

    def do_rename(self, sku: str, name: str) -> None:
        if sku in self.products:
            self.catalog.rename(self.products[sku], name)

    def do_discontinue(self, sku: str) -> None:
        if sku in self.products:
            self.catalog.discontinue(self.products[sku], "end of line")

    def do_reinstate(self, sku: str) -> None:
        if sku in self.products:
            self.catalog.reinstate(self.products[sku])

    def do_receive(self, sku: str, quantity: int) -> None:
        self.inventory.receive(sku, quantity, key=None)

    def do_cart(self, customer: UUID) -> None:
        self.cart_ids.append(self.carts.create_cart(customer, None).id)

    def do_add_item(self, i: int, sku: str, quantity: int) -> None:
        if self.cart_ids:
            cart = self.cart_ids[i % len(self.cart_ids)]
            self.carts.add_item(cart, sku, quantity)

    def do_change(self, i: int, sku: str, quantity: int) -> None:
        if self.cart_ids:
            self.carts.change_quantity(self.cart_ids[i % len(self.cart_ids)], sku, quantity)

    def do_remove(self, i: int, sku: str) -> None:
        if self.cart_ids:
            self.carts.remove_item(self.cart_ids[i % len(self.cart_ids)], sku)

    def do_order(self, i: int) -> None:
        """Check a cart out and place its order at today's prices."""
        if not self.cart_ids:
            return
        checkout = self.carts.check_out(self.cart_ids[i % len(self.cart_ids)])
        lines = [
            OrderLine(line["sku"], line["quantity"], self._price(line["sku"]).to_money())
            for line in checkout.lines
        ]
        order = self.orders.place_order(checkout.customer_id, checkout.id, lines, None)
        self.order_ids.append(order.id)

    def _price(self, sku: str) -> Amount:
        minor = (
            self.catalog.get_product(self.products[sku]).price.minor
            if sku in self.products
            else 100
        )
        return Amount(amount=Decimal(minor) / 100, currency="EUR")

    def _order(self, i: int) -> UUID | None:
        return self.order_ids[i % len(self.order_ids)] if self.order_ids else None

    def do_reserve(self, i: int) -> None:
        if (order_id := self._order(i)) is None:
            return
        order = self.orders.get_order(order_id)
        units = {line.sku: line.quantity for line in order.lines}
        self.inventory.reserve(order_id, units, at=datetime.now(UTC))
        self.orders.mark_stock_reserved(order_id)

    def do_release(self, i: int) -> None:
        if (order_id := self._order(i)) is None:
            return
        order = self.orders.get_order(order_id)
        self.inventory.release(order_id, _skus(order))

    def do_paid(self, i: int) -> None:
        if (order_id := self._order(i)) is not None:
            self.orders.mark_payment_authorized(order_id, uuid4())

    def do_confirm(self, i: int) -> None:
        if (order_id := self._order(i)) is not None:
            self.orders.confirm(order_id)

    def do_ship(self, i: int) -> None:
        if (order_id := self._order(i)) is not None:
            self.orders.ship(order_id)

    def do_deliver(self, i: int) -> None:
        if (order_id := self._order(i)) is not None:
            self.orders.deliver(order_id)

    def do_cancel(self, i: int) -> None:
        if (order_id := self._order(i)) is not None:
            self.orders.cancel(order_id, "changed my mind")

    def do_refund(self, i: int, minor: int) -> None:
        if (order_id := self._order(i)) is not None:
            self.orders.refund(order_id, Money(minor, "EUR"), key=str(uuid4()))

    def do_authorize(self, i: int, outcome: str) -> None:
        if (order_id := self._order(i)) is None:
            return
        total = sum(
            line.unit_price.minor * line.quantity for line in self.orders.get_order(order_id).lines
        )
        key = str(uuid4())
        self.payment_ids.append(self.payments.payment_id(key))
        self.payments.authorize(
            order_id,
            Money(total, "EUR"),
            payment_token=f"tok_{outcome}",
            card_brand="visa",
            last_four="4242",
            key=key,
        )

    def _payment(self, i: int) -> UUID | None:
        return self.payment_ids[i % len(self.payment_ids)] if self.payment_ids else None

    def do_capture(self, i: int) -> None:
        if (payment_id := self._payment(i)) is not None:
            self.payments.capture(payment_id, None, key=str(uuid4()))

    def do_void(self, i: int) -> None:
        if (payment_id := self._payment(i)) is not None:
            self.payments.void(payment_id, key=str(uuid4()))

    def do_refund_payment(self, i: int, minor: int) -> None:
        if (payment_id := self._payment(i)) is not None:
            self.payments.refund(payment_id, Money(minor, "EUR"), key=str(uuid4()))

    def close(self) -> None:
        for app in (self.catalog, self.inventory, self.carts, self.orders, self.payments):
            app.close()


def _skus(order: Order) -> list[str]:
    return [line.sku for line in order.lines]


@pytest.fixture
def shop(settings: Settings, processes: Supervisor) -> Iterator[Shop]:
    start(processes, settings, "relay")
    start(processes, settings, "worker")
    shop = Shop(
        cast(CatalogApplication, bootstrap.application(settings, "catalog")),
        cast(InventoryApplication, bootstrap.application(settings, "inventory")),
        cast(CartsApplication, bootstrap.application(settings, "carts")),
        cast(OrdersApplication, bootstrap.application(settings, "orders")),
        cast(PaymentsApplication, bootstrap.application(settings, "payments")),
    )
    yield shop
    shop.close()


def caught_up(settings: Settings) -> bool:
    """Every event is published and every projection has applied everything published."""
    heads = {}
    for context in bootstrap.CONTEXTS:
        app = bootstrap.application(settings, context)
        try:
            heads[context] = app.recorder.max_notification_id() or 0
        finally:
            app.close()
    published = bootstrap.relay_checkpoints(settings).all()
    if any(published.get(c, 0) < head for c, head in heads.items()):
        return False
    return all(
        row["applied_position"] >= heads[row["context"]] for row in projection_status(settings)
    )


def read_models(settings: Settings) -> dict[str, Any]:
    """Every read model of the namespace, in full: search documents, Redis keys, SQL rows."""
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        keys: dict[str, Any] = {}
        for key in sorted(redis.scan_iter(f"{settings.namespace}:*")):
            kind = redis.type(key)
            keys[key] = sorted(redis.smembers(key)) if kind == "set" else redis.get(key)
    finally:
        redis.close()
    rows: dict[str, list[str]] = {}
    with psycopg.connect(settings.database_url) as conn:
        for schema in (settings.schema_for(s) for s in READ_SCHEMAS):
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
            for (table,) in tables:
                query = sql.SQL("SELECT to_jsonb(t)::text FROM {} t").format(
                    sql.Identifier(schema, table)
                )
                rows[f"{schema}.{table}"] = sorted(r[0] for r in conn.execute(query))
    return {"search": indexed_products(settings), "redis": keys, "postgres": rows}


def rebuild_all(settings: Settings) -> None:
    for model in REBUILDABLE.values():
        asyncio.run(rebuild(settings, model.name))


@given(commands=st.lists(step, min_size=20, max_size=40))
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    # Sequences accumulate in one namespace, so a shrunk sequence would not replay alone.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_for_any_commands_the_live_read_models_equal_the_rebuilt_ones(
    settings: Settings, shop: Shop, commands: list[tuple[Any, ...]]
) -> None:
    for command in commands:
        shop.run(command)
    eventually(lambda: caught_up(settings), what="every projection caught up")

    live = read_models(settings)
    rebuild_all(settings)
    rebuilt = read_models(settings)

    assert json.dumps(live, sort_keys=True, default=str) == json.dumps(
        rebuilt, sort_keys=True, default=str
    )
