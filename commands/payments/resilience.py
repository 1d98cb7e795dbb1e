"""Timeouts and a circuit breaker around a payment gateway (ADR 0011).

``ResilientGateway`` is itself a ``PaymentGateway``: every call gets a deadline (no answer
in time is ``GatewayTimeout``: the outcome is unknown, retry with the same key), and after
``failures`` calls in a row without an answer the circuit opens: calls fail at once with
``CircuitOpen`` (nothing happened) for ``reset_seconds``, then one trial call is let through
(half-open) and its outcome closes or reopens the circuit. A processor's answer, approval or
decline, is never a failure: the processor is up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from commands.payments.gateway import (
    GatewayResult,
    GatewayTimeout,
    PaymentGateway,
    RetryLater,
)
from domain.money import Money


class CircuitOpen(RetryLater):
    """The circuit is open: the call was not made."""


class CircuitBreaker:
    def __init__(
        self, failures: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = failures
        self.reset_seconds = reset_seconds
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_running = False
        self.lock = threading.Lock()

    @property
    def state(self) -> str:
        with self.lock:
            if self.opened_at is None:
                return "closed"
            return "open" if self._cooling() else "half-open"

    def before(self) -> None:
        """Raise ``CircuitOpen`` unless a call may go through now."""
        with self.lock:
            if self.opened_at is None:
                return
            if self._cooling() or self.trial_running:
                remaining = max(0.0, self.opened_at + self.reset_seconds - self.clock())
                raise CircuitOpen(remaining)
            self.trial_running = True  # half-open: this call is the trial

    def succeeded(self) -> None:
        with self.lock:
            self.failures, self.opened_at, self.trial_running = 0, None, False

    def failed(self) -> None:
        with self.lock:
            self.failures += 1
            if self.trial_running or self.failures >= self.threshold:
                self.opened_at = self.clock()
            self.trial_running = False

    def _cooling(self) -> bool:
        assert self.opened_at is not None
        return self.clock() < self.opened_at + self.reset_seconds


class ResilientGateway:
    def __init__(
        self,
        inner: PaymentGateway,
        *,
        timeout_seconds: float = 5.0,
        failures: int = 5,
        reset_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.timeout_seconds = timeout_seconds
        self.breaker = CircuitBreaker(failures, reset_seconds, clock)
        # A call past its deadline finishes in the background; its answer is kept by key.
        self._calls = ThreadPoolExecutor(max_workers=32, thread_name_prefix="gateway")

    def authorize(self, *, amount: Money, token: str, idempotency_key: str) -> GatewayResult:
        return self._call(
            lambda: self.inner.authorize(
                amount=amount, token=token, idempotency_key=idempotency_key
            )
        )

    def capture(self, *, authorization: str, amount: Money, idempotency_key: str) -> GatewayResult:
        return self._call(
            lambda: self.inner.capture(
                authorization=authorization, amount=amount, idempotency_key=idempotency_key
            )
        )

    def void(self, *, authorization: str, idempotency_key: str) -> GatewayResult:
        return self._call(
            lambda: self.inner.void(authorization=authorization, idempotency_key=idempotency_key)
        )

    def refund(self, *, authorization: str, amount: Money, idempotency_key: str) -> GatewayResult:
        return self._call(
            lambda: self.inner.refund(
                authorization=authorization, amount=amount, idempotency_key=idempotency_key
            )
        )

    def close(self) -> None:
        self._calls.shutdown(wait=False, cancel_futures=True)

    def _call(self, call: Callable[[], GatewayResult]) -> GatewayResult:
        self.breaker.before()
        try:
            answer = self._calls.submit(call).result(timeout=self.timeout_seconds)
        except FutureTimeout:
            self.breaker.failed()
            raise GatewayTimeout(f"no answer within {self.timeout_seconds}s") from None
        except (GatewayTimeout, RetryLater):
            self.breaker.failed()
            raise
        except Exception:
            self.breaker.succeeded()  # the processor answered (with a refusal)
            raise
        self.breaker.succeeded()
        return answer
