"""The sandbox payment processor: the gateway port's test-mode adapter (the only fake).

It behaves like a processor's test mode, driven by the payment token:

=============================  ===============================================================
``tok_approve``                approved
``tok_decline_<reason>``       declined with ``<reason>`` (``tok_decline_insufficient_funds``)
``tok_timeout``                sleeps for the configured timeout, then raises ``GatewayTimeout``
``tok_timeout_then_approve``   the first call with a key times out, the next approves
``tok_retry_then_approve``     the first call with a key raises ``RetryLater``, the next approves
anything else                  declined: ``invalid_token``
=============================  ===============================================================

Like a real processor it keeps a ledger and enforces it: a capture is at most what was
authorized and happens once, a void only before a capture, refunds never exceed the capture.
An idempotency key returns the first answer again (never a second movement of money); the
same key with a different request raises ``IdempotencyKeyMismatch``. Every call waits the
configured latency first.

Where the ledger lives is the processor's business (``Ledger``): in memory per process for
unit tests (``SandboxLedger``), or in Postgres tables of its own
(``infra.payments.sandbox_postgres``), which is what the platform uses, so that keys are
remembered across processes and restarts like at a real processor (ADR 0011).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol
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
from infra.settings import Settings

APPROVE = "tok_approve"
TIMEOUT = "tok_timeout"
TIMEOUT_THEN_APPROVE = "tok_timeout_then_approve"
RETRY_THEN_APPROVE = "tok_retry_then_approve"
DECLINE_PREFIX = "tok_decline_"
_APPROVING = (APPROVE, RETRY_THEN_APPROVE, TIMEOUT_THEN_APPROVE)


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


class LedgerSession(Protocol):
    """The ledger as seen by one call, which has its idempotency key to itself."""

    def answer(self) -> tuple[str, GatewayResult] | None:
        """The request and answer first recorded for the key, if any."""
        ...

    def keep(self, request: str, answer: GatewayResult) -> None: ...

    def authorization(self, reference: str) -> SandboxAuthorization | None:
        """An authorization, held by this session until it ends."""
        ...

    def save(self, held: SandboxAuthorization) -> None: ...

    def moved(self, movement: Movement) -> None: ...


class Ledger(Protocol):
    @property
    def authorizations(self) -> Mapping[str, SandboxAuthorization]:
        """Every authorization by reference (the processor's dashboard)."""
        ...

    @property
    def movements(self) -> Sequence[Movement]:
        """Every movement of money, oldest first."""
        ...

    def session(self, key: str) -> AbstractContextManager[LedgerSession]:
        """One call's view: calls with the same key wait for each other; what the session
        wrote is kept only if it ends without an exception."""
        ...

    def first_time(self, flag: str) -> bool:
        """Mark ``flag``; True only the first time (kept at once, even if the call fails)."""
        ...


@dataclass
class SandboxLedger:
    """The in-memory ledger of one sandbox account (unit tests)."""

    authorizations: dict[str, SandboxAuthorization] = field(default_factory=dict)
    movements: list[Movement] = field(default_factory=list)
    answers: dict[str, tuple[str, GatewayResult]] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    key_locks: dict[str, threading.Lock] = field(default_factory=dict)

    def key_lock(self, key: str) -> threading.Lock:
        with self.lock:
            return self.key_locks.setdefault(key, threading.Lock())

    @contextmanager
    def session(self, key: str) -> Iterator[LedgerSession]:
        with self.key_lock(key), self.lock:
            yield _MemorySession(self, key)

    def first_time(self, flag: str) -> bool:
        with self.lock:
            if flag in self.flags:
                return False
            self.flags.add(flag)
            return True


@dataclass
class _MemorySession:
    ledger: SandboxLedger
    key: str

    def answer(self) -> tuple[str, GatewayResult] | None:
        return self.ledger.answers.get(self.key)

    def keep(self, request: str, answer: GatewayResult) -> None:
        self.ledger.answers[self.key] = (request, answer)

    def authorization(self, reference: str) -> SandboxAuthorization | None:
        return self.ledger.authorizations.get(reference)

    def save(self, held: SandboxAuthorization) -> None:
        self.ledger.authorizations[held.reference] = held

    def moved(self, movement: Movement) -> None:
        self.ledger.movements.append(movement)


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
        ledger: Ledger | None = None,
    ) -> None:
        self.account = account
        self.ledger: Ledger = ledger or sandbox_ledger(account)
        self.latency_seconds = latency_seconds
        self.timeout_seconds = timeout_seconds
        self.retry_after_seconds = retry_after_seconds
        self._sleep = sleep

    @classmethod
    def configured(
        cls, settings: Settings, default_account: str, ledger: Ledger | None = None
    ) -> SandboxGateway:
        """The sandbox as ``SHOP_PAYMENTS_SANDBOX_*`` says (account, latency, timeout)."""
        return cls(
            settings.payments_sandbox_account or default_account,
            latency_seconds=settings.payments_sandbox_latency_seconds,
            timeout_seconds=settings.payments_sandbox_timeout_seconds,
            ledger=ledger,
        )

    def authorize(self, *, amount: Money, token: str, idempotency_key: str) -> GatewayResult:
        # Test behaviours that give no answer come first: they record no answer.
        if token == TIMEOUT or (
            token == TIMEOUT_THEN_APPROVE and self.ledger.first_time(f"timeout/{idempotency_key}")
        ):
            self._sleep(self.timeout_seconds)
            raise GatewayTimeout(f"no answer within {self.timeout_seconds}s")
        if token == RETRY_THEN_APPROVE and self.ledger.first_time(f"retry/{idempotency_key}"):
            raise RetryLater(self.retry_after_seconds)

        def decide(session: LedgerSession) -> GatewayResult:
            if token.startswith(DECLINE_PREFIX) and len(token) > len(DECLINE_PREFIX):
                return Declined(token.removeprefix(DECLINE_PREFIX))
            if token not in _APPROVING:
                return Declined("invalid_token")
            if amount.minor <= 0:
                return Declined("invalid_amount")
            reference = f"auth_{uuid4().hex}"
            session.save(SandboxAuthorization(reference, idempotency_key, amount))
            return _moved(session, "authorize", reference, amount, idempotency_key)

        return self._once(idempotency_key, ("authorize", amount, token), decide)

    def capture(self, *, authorization: str, amount: Money, idempotency_key: str) -> GatewayResult:
        def decide(session: LedgerSession) -> GatewayResult:
            held = session.authorization(authorization)
            if held is None:
                return Declined("unknown_authorization")
            if held.voided:
                return Declined("authorization_voided")
            if held.captured is not None:
                return Declined("already_captured")
            if amount.currency != held.amount.currency or not 0 < amount.minor <= held.amount.minor:
                return Declined("amount_exceeds_authorization")
            held.captured = amount
            session.save(held)
            return _moved(session, "capture", authorization, amount, idempotency_key)

        return self._once(idempotency_key, ("capture", authorization, amount), decide)

    def void(self, *, authorization: str, idempotency_key: str) -> GatewayResult:
        def decide(session: LedgerSession) -> GatewayResult:
            held = session.authorization(authorization)
            if held is None:
                return Declined("unknown_authorization")
            if held.captured is not None:
                return Declined("already_captured")
            if held.voided:
                return Declined("authorization_voided")
            held.voided = True
            session.save(held)
            return _moved(session, "void", authorization, None, idempotency_key)

        return self._once(idempotency_key, ("void", authorization), decide)

    def refund(self, *, authorization: str, amount: Money, idempotency_key: str) -> GatewayResult:
        def decide(session: LedgerSession) -> GatewayResult:
            held = session.authorization(authorization)
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
            session.save(held)
            return _moved(session, "refund", authorization, amount, idempotency_key)

        return self._once(idempotency_key, ("refund", authorization, amount), decide)

    def _once(
        self,
        key: str,
        request: tuple[object, ...],
        decide: Callable[[LedgerSession], GatewayResult],
    ) -> GatewayResult:
        """The first answer for ``key``: one call per key at a time, inside its session."""
        self._sleep(self.latency_seconds)
        fingerprint = repr(request)
        with self.ledger.session(key) as session:
            first = session.answer()
            if first is not None:
                first_request, answer = first
                if first_request != fingerprint:
                    raise IdempotencyKeyMismatch(f"key {key!r} was used for another request")
                return answer
            answer = decide(session)
            session.keep(fingerprint, answer)
            return answer


def _moved(
    session: LedgerSession, kind: str, authorization: str, amount: Money | None, key: str
) -> GatewayResult:
    session.moved(Movement(kind, authorization, amount, key))
    return Approved(authorization if kind == "authorize" else f"{kind}_{uuid4().hex}")
