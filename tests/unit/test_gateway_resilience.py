"""Timeouts and the circuit breaker around a payment gateway."""

from __future__ import annotations

import threading

import pytest

from commands.payments.gateway import Approved, Declined, GatewayTimeout
from commands.payments.resilience import CircuitBreaker, CircuitOpen, ResilientGateway
from domain.money import Money
from infra.payments.sandbox import SandboxGateway

EUR = Money(1000, "EUR")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_no_answer_within_the_deadline_is_a_timeout_and_the_key_keeps_the_late_answer() -> None:
    release = threading.Event()

    def slow(_: float) -> None:
        release.wait(5)  # the processor answers only once the caller gave up

    sandbox = SandboxGateway("resilience-late", latency_seconds=0.5, sleep=slow)
    gateway = ResilientGateway(sandbox, timeout_seconds=0.05)

    with pytest.raises(GatewayTimeout):
        gateway.authorize(amount=EUR, token="tok_approve", idempotency_key="k1")
    release.set()
    again = gateway.authorize(amount=EUR, token="tok_approve", idempotency_key="k1")

    assert isinstance(again, Approved)
    assert [m.kind for m in sandbox.ledger.movements] == ["authorize"]


def test_the_circuit_opens_after_failures_in_a_row_and_a_trial_closes_it() -> None:
    clock = Clock()
    sandbox = SandboxGateway("resilience-breaker", timeout_seconds=0.0)
    gateway = ResilientGateway(sandbox, failures=3, reset_seconds=10, clock=clock)

    for i in range(3):
        with pytest.raises(GatewayTimeout):
            gateway.authorize(amount=EUR, token="tok_timeout", idempotency_key=f"t{i}")
    with pytest.raises(CircuitOpen):
        gateway.authorize(amount=EUR, token="tok_approve", idempotency_key="a1")
    assert sandbox.ledger.movements == []  # an open circuit makes no call

    clock.now = 10.0
    assert isinstance(
        gateway.authorize(amount=EUR, token="tok_approve", idempotency_key="a1"), Approved
    )
    assert gateway.breaker.state == "closed"


def test_a_failed_trial_opens_the_circuit_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_seconds=5, clock=clock)
    breaker.failed()
    clock.now = 5.0
    breaker.before()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.before()  # only one trial at a time
    breaker.failed()
    assert breaker.state == "open"


def test_a_decline_is_an_answer_not_a_failure() -> None:
    gateway = ResilientGateway(SandboxGateway("resilience-decline"), failures=1)
    for i in range(3):
        result = gateway.authorize(amount=EUR, token="tok_decline_x", idempotency_key=f"d{i}")
        assert result == Declined("x")
    assert gateway.breaker.state == "closed"


def test_tok_timeout_then_approve_times_out_once_per_key() -> None:
    sandbox = SandboxGateway("resilience-once", timeout_seconds=0.0)

    with pytest.raises(GatewayTimeout):
        sandbox.authorize(amount=EUR, token="tok_timeout_then_approve", idempotency_key="k")
    first = sandbox.authorize(amount=EUR, token="tok_timeout_then_approve", idempotency_key="k")

    assert isinstance(first, Approved)
    assert (
        sandbox.authorize(amount=EUR, token="tok_timeout_then_approve", idempotency_key="k")
        == first
    )
