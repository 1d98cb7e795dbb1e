"""Properties of a payment under any sequence of commands (Hypothesis stateful), driven
through the application service against the sandbox processor and an in-memory event store.

- Refunds never exceed what was captured, and a capture never exceeds the authorization:
  in the aggregate and in the processor's ledger.
- The events and the ledger agree: every movement of money is recorded exactly once, and a
  repeated key moves nothing.
- A refused command moves no money and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from commands.payments.application import PaymentsApplication
from domain.errors import DomainError
from domain.money import Money
from domain.payments import Payment
from infra.payments.sandbox import SandboxGateway

cents = st.integers(1, 20_000)


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


class PaymentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sandbox = SandboxGateway(f"property-{uuid4()}")
        self.payments = PaymentsApplication(
            env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, gateway=self.sandbox
        )
        self.payment_id: UUID | None = None

    @precondition(lambda self: self.payment_id is None)
    @rule(minor=cents)
    def authorize(self, minor: int) -> None:
        self.payment_id = self.payments.authorize(
            uuid4(),
            eur(minor),
            payment_token="tok_approve",
            card_brand="mastercard",
            last_four="4444",
            key="authorize-key",
        ).id

    def attempt(self, command: Callable[[UUID], object]) -> None:
        assert self.payment_id is not None
        before = (self.payment().version, len(self.sandbox.ledger.movements))
        try:
            command(self.payment_id)
        except DomainError:
            assert (self.payment().version, len(self.sandbox.ledger.movements)) == before

    @precondition(lambda self: self.payment_id is not None)
    @rule(key=st.sampled_from(["c1", "c2"]), minor=st.none() | cents)
    def capture(self, key: str, minor: int | None) -> None:
        amount = None if minor is None else eur(minor)
        self.attempt(lambda p: self.payments.capture(p, amount, key))

    @precondition(lambda self: self.payment_id is not None)
    @rule(key=st.sampled_from(["v1", "v2"]))
    def void(self, key: str) -> None:
        self.attempt(lambda p: self.payments.void(p, key))

    @precondition(lambda self: self.payment_id is not None)
    @rule(key=st.sampled_from(["r1", "r2", "r3", "r4"]), minor=cents)
    def refund(self, key: str, minor: int) -> None:
        self.attempt(lambda p: self.payments.refund(p, eur(minor), key))

    @precondition(lambda self: self.payment_id is not None)
    @rule(key=st.sampled_from(["r1", "r2", "r3", "r4"]))
    def refund_the_rest(self, key: str) -> None:
        payment = self.payment()
        rest = payment.captured.minor - payment.refunded.minor
        if rest > 0:
            self.attempt(lambda p: self.payments.refund(p, eur(rest), key))

    def payment(self) -> Payment:
        assert self.payment_id is not None
        return self.payments.get_payment(self.payment_id)

    @invariant()
    def refunds_never_exceed_captures(self) -> None:
        if self.payment_id is None:
            return
        payment = self.payment()
        assert 0 <= payment.refunded.minor <= payment.captured.minor <= payment.amount.minor
        held = self.sandbox.ledger.authorizations[payment.authorization]
        captured = 0 if held.captured is None else held.captured.minor
        assert 0 <= held.refunded_minor <= captured <= held.amount.minor

    @invariant()
    def the_events_and_the_ledger_agree(self) -> None:
        if self.payment_id is None:
            return
        payment = self.payment()
        held = self.sandbox.ledger.authorizations[payment.authorization]
        assert payment.captured.minor == (0 if held.captured is None else held.captured.minor)
        assert payment.refunded.minor == held.refunded_minor
        assert (payment.status == "voided") == held.voided
        assert len(self.sandbox.ledger.movements) == payment.version


PaymentMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=20, deadline=None)
test_refunds_never_exceed_captures_and_each_key_moves_money_once = PaymentMachine.TestCase
