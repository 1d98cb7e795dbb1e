"""The saga recognises its effects by the ids the contexts that made them name (ADR 0037)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from commands.catalog.application import CatalogApplication
from commands.inventory.application import InventoryApplication
from commands.observers import NO_SAGA_OBSERVER
from commands.orders.application import OrdersApplication
from commands.payments.application import PaymentsApplication
from commands.saga import steps
from commands.saga.deadlines import SagaDeadlines
from commands.saga.execution import StepExecutor
from commands.saga.facts import (
    FactsReader,
    PendingRefund,
    SagaApplications,
    refund_restock,
    saga_key,
)
from domain.money import Money
from infra.payments.sandbox import SandboxGateway

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
ORDER = UUID("00000000-0000-4000-8000-0000000000a7")
REFUND = UUID("00000000-0000-4000-8000-0000000000f7")


@pytest.fixture
def payments() -> PaymentsApplication:
    return PaymentsApplication(env=IN_MEMORY, gateway=SandboxGateway(f"ids-{uuid4()}"))


@pytest.fixture
def inventory() -> InventoryApplication:
    return InventoryApplication(env=IN_MEMORY)


def _no_database() -> AbstractContextManager[psycopg.Connection[Any]]:
    raise AssertionError("these tests read no saga timer")


@pytest.fixture
def reader(payments: PaymentsApplication, inventory: InventoryApplication) -> FactsReader:
    orders, catalog = OrdersApplication(env=IN_MEMORY), CatalogApplication(env=IN_MEMORY)
    apps = SagaApplications(orders, inventory, payments, catalog)
    unused = SagaDeadlines("unused", _no_database)  # no timer is read here
    return FactsReader(apps, unused, lambda: datetime.now(UTC))


@pytest.fixture
def executor(reader: FactsReader) -> StepExecutor:
    return StepExecutor(
        reader,
        gateway_attempts=1,
        retry_seconds=0.0,
        sleep=lambda _: None,
        observer=NO_SAGA_OBSERVER,
    )


def test_a_context_names_the_same_effect_for_the_same_request(
    payments: PaymentsApplication, inventory: InventoryApplication
) -> None:
    payment = uuid4()

    assert payments.payment_id("k") == payments.payment_id("k") != payments.payment_id("j")
    assert payments.refund_id(payment, "k") == payments.refund_id(payment, "k")
    assert payments.refund_id(payment, "k") not in (
        payments.refund_id(payment, "j"),
        payments.refund_id(uuid4(), "k"),
    )
    assert inventory.receipt_id("k") == inventory.receipt_id("k") != inventory.receipt_id("j")


def test_what_a_context_records_is_under_the_id_it_names(
    payments: PaymentsApplication, inventory: InventoryApplication
) -> None:
    amount = Money(2000, "EUR")
    payment_id = payments.authorize(
        ORDER,
        amount,
        payment_token="tok_approve",
        card_brand="visa",
        last_four="4242",
        key="auth-key",
    ).id
    payments.capture(payment_id, None, "capture-key")
    payments.refund(payment_id, amount, "refund-key")
    inventory.receive("MUG-1", 3, "receipt-key")

    assert payment_id == payments.payment_id("auth-key")
    assert payments.get_payment(payment_id).already_did(
        payments.refund_id(payment_id, "refund-key")
    )
    assert inventory.receipt_id("receipt-key") in inventory.get_stock_item("MUG-1").effects


def test_the_saga_recognises_the_refund_and_restock_it_made(
    reader: FactsReader, executor: StepExecutor
) -> None:
    reader.apps.payments.authorize(
        ORDER,
        Money(5000, "EUR"),
        payment_token="tok_approve",
        card_brand="visa",
        last_four="4242",
        key=saga_key(ORDER, "authorize"),
    )
    executor.execute(steps.CapturePayment(), ORDER)
    pending = PendingRefund(REFUND, Money(2000, "EUR"), {"MUG-1": 1})
    payment = reader.payment(ORDER)
    assert payment is not None
    assert not reader.paid_back(payment, REFUND)

    executor.execute(steps.PayBackRefund(pending), ORDER)
    executor.execute(steps.RestockRefund(pending), ORDER)

    assert reader.paid_back(reader.payment(ORDER), REFUND)
    items = {"MUG-1": reader.apps.inventory.get_stock_item("MUG-1")}
    assert reader.received(items, ORDER, refund_restock(REFUND), pending.restock)
    assert not reader.received(items, ORDER, refund_restock(uuid4()), pending.restock)
