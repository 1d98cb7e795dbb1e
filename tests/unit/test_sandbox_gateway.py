"""The sandbox processor behaves like a real one: test tokens, idempotency keys, a ledger."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import pytest

from commands.payments.gateway import (
    Approved,
    Declined,
    GatewayTimeout,
    IdempotencyKeyMismatch,
    RetryLater,
)
from domain.money import Money
from infra.payments.sandbox import SandboxGateway, sandbox_ledger
from infra.settings import Settings

EUR_50 = Money(5000, "EUR")


@pytest.fixture
def sandbox() -> SandboxGateway:
    return SandboxGateway(f"test-{uuid4()}", timeout_seconds=0.05)


def approved(sandbox: SandboxGateway, amount: Money = EUR_50) -> str:
    result = sandbox.authorize(amount=amount, token="tok_approve", idempotency_key=str(uuid4()))
    assert isinstance(result, Approved)
    return result.reference


def test_tok_approve_authorizes_and_the_ledger_holds_the_authorization(
    sandbox: SandboxGateway,
) -> None:
    result = sandbox.authorize(amount=EUR_50, token="tok_approve", idempotency_key="k1")

    assert isinstance(result, Approved)
    held = sandbox.ledger.authorizations[result.reference]
    assert (held.amount, held.idempotency_key, held.captured) == (EUR_50, "k1", None)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_decline_insufficient_funds", "insufficient_funds"),
        ("tok_decline_card_expired", "card_expired"),
        ("tok_unknown", "invalid_token"),
    ],
)
def test_decline_tokens_are_declined_with_their_reason_and_move_no_money(
    sandbox: SandboxGateway, token: str, reason: str
) -> None:
    result = sandbox.authorize(amount=EUR_50, token=token, idempotency_key="k1")

    assert result == Declined(reason)
    assert sandbox.ledger.authorizations == {}
    assert sandbox.ledger.movements == []


def test_tok_timeout_waits_out_the_configured_timeout_then_raises(
    sandbox: SandboxGateway,
) -> None:
    started = time.monotonic()

    with pytest.raises(GatewayTimeout):
        sandbox.authorize(amount=EUR_50, token="tok_timeout", idempotency_key="k1")

    assert time.monotonic() - started >= 0.05
    assert sandbox.ledger.authorizations == {}


def test_tok_retry_then_approve_asks_for_a_retry_then_approves_the_same_key(
    sandbox: SandboxGateway,
) -> None:
    with pytest.raises(RetryLater):
        sandbox.authorize(amount=EUR_50, token="tok_retry_then_approve", idempotency_key="k1")

    result = sandbox.authorize(amount=EUR_50, token="tok_retry_then_approve", idempotency_key="k1")

    assert isinstance(result, Approved)
    assert len(sandbox.ledger.authorizations) == 1


def test_the_same_key_returns_the_same_answer_and_never_charges_twice(
    sandbox: SandboxGateway,
) -> None:
    first = sandbox.authorize(amount=EUR_50, token="tok_approve", idempotency_key="k1")
    again = sandbox.authorize(amount=EUR_50, token="tok_approve", idempotency_key="k1")

    assert first == again
    assert len(sandbox.ledger.authorizations) == 1
    assert [m.kind for m in sandbox.ledger.movements] == ["authorize"]


def test_the_same_key_for_another_request_is_refused(sandbox: SandboxGateway) -> None:
    sandbox.authorize(amount=EUR_50, token="tok_approve", idempotency_key="k1")

    with pytest.raises(IdempotencyKeyMismatch):
        sandbox.authorize(amount=Money(1, "EUR"), token="tok_approve", idempotency_key="k1")


def test_a_declined_answer_is_also_kept_for_its_key(sandbox: SandboxGateway) -> None:
    token = "tok_decline_do_not_honor"
    first = sandbox.authorize(amount=EUR_50, token=token, idempotency_key="k1")

    assert sandbox.authorize(amount=EUR_50, token=token, idempotency_key="k1") == first


def test_concurrent_calls_with_one_key_authorize_once(sandbox: SandboxGateway) -> None:
    slow = SandboxGateway(sandbox.account, latency_seconds=0.01)

    with ThreadPoolExecutor(10) as pool:
        results = list(
            pool.map(
                lambda _: slow.authorize(amount=EUR_50, token="tok_approve", idempotency_key="k"),
                range(10),
            )
        )

    assert len(set(results)) == 1
    assert len(sandbox.ledger.authorizations) == 1


def test_latency_is_configurable() -> None:
    slow = SandboxGateway(f"test-{uuid4()}", latency_seconds=0.05)
    started = time.monotonic()

    slow.authorize(amount=EUR_50, token="tok_approve", idempotency_key="k1")

    assert time.monotonic() - started >= 0.05


def test_a_capture_takes_at_most_the_authorization_and_only_once(
    sandbox: SandboxGateway,
) -> None:
    reference = approved(sandbox)

    too_much = sandbox.capture(
        authorization=reference, amount=Money(5001, "EUR"), idempotency_key="c0"
    )
    first = sandbox.capture(
        authorization=reference, amount=Money(3000, "EUR"), idempotency_key="c1"
    )
    repeat = sandbox.capture(
        authorization=reference, amount=Money(3000, "EUR"), idempotency_key="c1"
    )
    second = sandbox.capture(
        authorization=reference, amount=Money(1000, "EUR"), idempotency_key="c2"
    )

    assert too_much == Declined("amount_exceeds_authorization")
    assert isinstance(first, Approved)
    assert repeat == first
    assert second == Declined("already_captured")
    assert sandbox.ledger.authorizations[reference].captured == Money(3000, "EUR")


def test_a_void_releases_an_authorization_only_before_capture(sandbox: SandboxGateway) -> None:
    voided, captured = approved(sandbox), approved(sandbox)
    sandbox.capture(authorization=captured, amount=EUR_50, idempotency_key="c1")

    assert isinstance(sandbox.void(authorization=voided, idempotency_key="v1"), Approved)
    assert sandbox.void(authorization=captured, idempotency_key="v2") == Declined(
        "already_captured"
    )
    assert sandbox.capture(authorization=voided, amount=EUR_50, idempotency_key="c2") == (
        Declined("authorization_voided")
    )


def test_refunds_never_exceed_the_capture_and_repeat_by_key(sandbox: SandboxGateway) -> None:
    reference = approved(sandbox)
    not_yet = sandbox.refund(authorization=reference, amount=EUR_50, idempotency_key="r0")
    sandbox.capture(authorization=reference, amount=Money(4000, "EUR"), idempotency_key="c1")

    first = sandbox.refund(authorization=reference, amount=Money(3000, "EUR"), idempotency_key="r1")
    repeat = sandbox.refund(
        authorization=reference, amount=Money(3000, "EUR"), idempotency_key="r1"
    )
    over = sandbox.refund(authorization=reference, amount=Money(1001, "EUR"), idempotency_key="r2")
    rest = sandbox.refund(authorization=reference, amount=Money(1000, "EUR"), idempotency_key="r3")

    assert not_yet == Declined("not_captured")
    assert isinstance(first, Approved)
    assert repeat == first
    assert over == Declined("amount_exceeds_capture")
    assert isinstance(rest, Approved)
    assert sandbox.ledger.authorizations[reference].refunded_minor == 4000


def test_unknown_authorizations_are_declined(sandbox: SandboxGateway) -> None:
    assert sandbox.capture(authorization="auth_x", amount=EUR_50, idempotency_key="c") == (
        Declined("unknown_authorization")
    )


def test_a_ledger_belongs_to_one_sandbox_account(sandbox: SandboxGateway) -> None:
    approved(sandbox)

    assert sandbox_ledger(sandbox.account) is sandbox.ledger
    assert sandbox_ledger(f"other-{uuid4()}").authorizations == {}


def test_the_sandbox_is_configured_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_PAYMENTS_SANDBOX_LATENCY_SECONDS", "0.2")
    monkeypatch.setenv("SHOP_PAYMENTS_SANDBOX_TIMEOUT_SECONDS", "3")

    sandbox = SandboxGateway.configured(Settings(), "acct")

    assert (sandbox.account, sandbox.latency_seconds, sandbox.timeout_seconds) == (
        "acct",
        0.2,
        3.0,
    )
