"""The sandbox processor's ledger in Postgres: keys outlive the process that used them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from commands.payments.gateway import Approved, Declined, GatewayTimeout, IdempotencyKeyMismatch
from domain.money import Money
from infra.payments.sandbox import SandboxGateway
from infra.payments.sandbox_postgres import PostgresSandboxLedger
from infra.settings import Settings

pytestmark = pytest.mark.integration
EUR = Money(4200, "EUR")


def processor(settings: Settings) -> SandboxGateway:
    """A sandbox as a fresh process would build it: nothing shared but the database."""
    schema = settings.schema_for("payments")
    ledger = PostgresSandboxLedger(settings.database_url, schema, schema)
    ledger.create_tables()
    return SandboxGateway(schema, ledger=ledger, timeout_seconds=0.0)


def test_a_key_answered_by_one_process_gets_the_same_answer_in_the_next(
    settings: Settings,
) -> None:
    first = processor(settings).authorize(amount=EUR, token="tok_approve", idempotency_key="k1")
    restarted = processor(settings)

    again = restarted.authorize(amount=EUR, token="tok_approve", idempotency_key="k1")

    assert again == first
    assert [m.kind for m in restarted.ledger.movements] == ["authorize"]
    with pytest.raises(IdempotencyKeyMismatch):
        restarted.authorize(amount=Money(1, "EUR"), token="tok_approve", idempotency_key="k1")


def test_concurrent_calls_with_one_key_move_money_once(settings: Settings) -> None:
    reference = processor(settings).authorize(
        amount=EUR, token="tok_approve", idempotency_key="auth"
    )
    assert isinstance(reference, Approved)

    def capture(_: int) -> object:
        return processor(settings).capture(
            authorization=reference.reference, amount=EUR, idempotency_key="capture-1"
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = set(pool.map(capture, range(20)))

    assert len(answers) == 1
    other_key = processor(settings).capture(
        authorization=reference.reference, amount=EUR, idempotency_key="capture-2"
    )
    assert other_key == Declined("already_captured")
    ledger = processor(settings).ledger
    assert [m.kind for m in ledger.movements] == ["authorize", "capture"]
    assert ledger.authorizations[reference.reference].captured == EUR


def test_a_timeout_then_approve_token_times_out_once_across_processes(
    settings: Settings,
) -> None:
    with pytest.raises(GatewayTimeout):
        processor(settings).authorize(
            amount=EUR, token="tok_timeout_then_approve", idempotency_key="t1"
        )
    answer = processor(settings).authorize(
        amount=EUR, token="tok_timeout_then_approve", idempotency_key="t1"
    )
    assert isinstance(answer, Approved)
