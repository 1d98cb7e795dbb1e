"""The sandbox payment processor: the gateway port's test-mode adapter (the only fake).

It behaves like a processor's test mode, driven by the payment token:

===========================  =================================================================
``tok_approve``              approved
``tok_decline_<reason>``     declined with ``<reason>`` (``tok_decline_insufficient_funds``, ...)
``tok_timeout``              sleeps for the configured timeout, then raises ``GatewayTimeout``
``tok_retry_then_approve``   the first call with a key raises ``RetryLater``, the next approves
anything else                declined: ``invalid_token``
===========================  =================================================================

Like a real processor it keeps a ledger and enforces it: a capture is at most what was
authorized and happens once, a void only before a capture, refunds never exceed the capture.
An idempotency key returns the first answer again (never a second movement of money); the
same key with a different request raises ``IdempotencyKeyMismatch``. Every call waits the
configured latency first.

The ledger lives **in memory, per process**, one per sandbox account (the payments
application names its account after its event-store schema, so test namespaces never see
each other's charges). A restart forgets every charge: acceptable for a sandbox, where
nothing real is charged; a real adapter keeps that state at the processor.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from uuid import uuid4

from commands.payments.gateway import (
    Approved,
    Declined,
    GatewayResult,
    GatewayTimeout,
    IdempotencyKeyMismatch,
    RetryLater,
)
from domain.money import Money

APPROVE = "tok_approve"
TIMEOUT = "tok_timeout"
RETRY_THEN_APPROVE = "tok_retry_then_approve"
DECLINE_PREFIX = "tok_decline_"


@dataclass
class SandboxAuthorization:
    reference: str
    idempotency_key: str
    amount: Money
    captured: Money | None = None
    refunded_minor: int = 0
    voided: bool = False


@dataclass(frozen=True, slots=True)
class Movement:
    """One thing the processor did: authorize, capture, void or refund."""

    kind: str
    authorization: str
    amount: Money | None
    idempotency_key: str


@dataclass
class SandboxLedger:
    authorizations: dict[str, SandboxAuthorization] = field(default_factory=dict)
    movements: list[Movement] = field(default_factory=list)
    answers: dict[str, tuple[tuple[object, ...], GatewayResult]] = field(default_factory=dict)
    asked_to_retry: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    key_locks: dict[str, threading.Lock] = field(default_factory=dict)

    def key_lock(self, key: str) -> threading.Lock:
        with self.lock:
            return self.key_locks.setdefault(key, threading.Lock())


_ledgers: dict[str, SandboxLedger] = {}
_ledgers_lock = threading.Lock()


def sandbox_ledger(account: str) -> SandboxLedger:
    """The in-process ledger of a sandbox account."""
    with _ledgers_lock:
        return _ledgers.setdefault(account, SandboxLedger())


class SandboxGateway:
    def __init__(
        self,
        account: str = "default",
        *,
        latency_seconds: float = 0.0,
        timeout_seconds: float = 1.0,
        retry_after_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account = account
        self.ledger = sandbox_ledger(account)
        self.latency_seconds = latency_seconds
        self.timeout_seconds = timeout_seconds
        self.retry_after_seconds = retry_after_seconds
        self._sleep = sleep

    @classmethod
    def from_env(cls, env: Mapping[str, str], default_account: str) -> SandboxGateway:
        """``SANDBOX_ACCOUNT``, ``SANDBOX_LATENCY_SECONDS``, ``SANDBOX_TIMEOUT_SECONDS``."""
        return cls(
            env.get("SANDBOX_ACCOUNT") or default_account,
            latency_seconds=float(env.get("SANDBOX_LATENCY_SECONDS") or 0.0),
            timeout_seconds=float(env.get("SANDBOX_TIMEOUT_SECONDS") or 1.0),
        )

    def authorize(self, *, amount: Money, token: str, idempotency_key: str) -> GatewayResult:
        def decide() -> GatewayResult:
            if token == TIMEOUT:
                self._sleep(self.timeout_seconds)
                raise GatewayTimeout(f"no answer within {self.timeout_seconds}s")
            if token == RETRY_THEN_APPROVE and idempotency_key not in self.ledger.asked_to_retry:
                self.ledger.asked_to_retry.add(idempotency_key)
                raise RetryLater(self.retry_after_seconds)
            if token.startswith(DECLINE_PREFIX) and len(token) > len(DECLINE_PREFIX):
                return Declined(token.removeprefix(DECLINE_PREFIX))
            if token not in (APPROVE, RETRY_THEN_APPROVE):
                return Declined("invalid_token")
            if amount.minor <= 0:
                return Declined("invalid_amount")
            reference = f"auth_{uuid4().hex}"
            with self.ledger.lock:
                self.ledger.authorizations[reference] = SandboxAuthorization(
                    reference, idempotency_key, amount
                )
                return self._moved("authorize", reference, amount, idempotency_key)

        return self._once(idempotency_key, ("authorize", amount, token), decide)

    def capture(self, *, authorization: str, amount: Money, idempotency_key: str) -> GatewayResult:
        def decide() -> GatewayResult:
            with self.ledger.lock:
                held = self.ledger.authorizations.get(authorization)
                if held is None:
                    return Declined("unknown_authorization")
                if held.voided:
                    return Declined("authorization_voided")
                if held.captured is not None:
                    return Declined("already_captured")
                if (
                    amount.currency != held.amount.currency
                    or not 0 < amount.minor <= held.amount.minor
                ):
                    return Declined("amount_exceeds_authorization")
                held.captured = amount
                return self._moved("capture", authorization, amount, idempotency_key)

        return self._once(idempotency_key, ("capture", authorization, amount), decide)

    def void(self, *, authorization: str, idempotency_key: str) -> GatewayResult:
        def decide() -> GatewayResult:
            with self.ledger.lock:
                held = self.ledger.authorizations.get(authorization)
                if held is None:
                    return Declined("unknown_authorization")
                if held.captured is not None:
                    return Declined("already_captured")
                if held.voided:
                    return Declined("authorization_voided")
                held.voided = True
                return self._moved("void", authorization, None, idempotency_key)

        return self._once(idempotency_key, ("void", authorization), decide)

    def refund(self, *, authorization: str, amount: Money, idempotency_key: str) -> GatewayResult:
        def decide() -> GatewayResult:
            with self.ledger.lock:
                held = self.ledger.authorizations.get(authorization)
                if held is None:
                    return Declined("unknown_authorization")
                if held.captured is None:
                    return Declined("not_captured")
                if (
                    amount.currency != held.captured.currency
                    or amount.minor <= 0
                    or held.refunded_minor + amount.minor > held.captured.minor
                ):
                    return Declined("amount_exceeds_capture")
                held.refunded_minor += amount.minor
                return self._moved("refund", authorization, amount, idempotency_key)

        return self._once(idempotency_key, ("refund", authorization, amount), decide)

    def _once(
        self, key: str, request: tuple[object, ...], decide: Callable[[], GatewayResult]
    ) -> GatewayResult:
        """The first answer for ``key``; a raised error is not an answer, so it is not kept.

        One call per key at a time; ``decide`` takes the ledger's lock for its bookkeeping
        (a timeout sleeps without it)."""
        self._sleep(self.latency_seconds)
        with self.ledger.key_lock(key):
            if key in self.ledger.answers:
                first_request, answer = self.ledger.answers[key]
                if first_request != request:
                    raise IdempotencyKeyMismatch(f"key {key!r} was used for another request")
                return answer
            pending = decide()
            self.ledger.answers[key] = (request, pending)
            return pending

    def _moved(
        self, kind: str, authorization: str, amount: Money | None, key: str
    ) -> GatewayResult:
        self.ledger.movements.append(Movement(kind, authorization, amount, key))
        return Approved(authorization if kind == "authorize" else f"{kind}_{uuid4().hex}")
