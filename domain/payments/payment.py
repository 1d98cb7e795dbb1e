"""The payments context's Payment aggregate: one authorization and what became of it.

Only a payment token, the card brand and the last four digits ever reach it: never a card
number or a security code (PCI scope stays with the processor).
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, RuleViolated
from domain.money import Money


class PaymentStatus(StrEnum):
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    CAPTURED = "captured"
    VOIDED = "voided"
    REFUNDED = "refunded"  # in full; a partial refund leaves it captured


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, payment_id: UUID, current: PaymentStatus, target: PaymentStatus) -> None:
        super().__init__(f"payment {payment_id} cannot go from {current} to {target}")
        self.from_status = current
        self.to_status = target


class InvalidAmount(RuleViolated):
    code = "invalid_amount"


class CaptureExceedsAuthorization(RuleViolated):
    code = "capture_exceeds_authorization"


class RefundExceedsCaptured(RuleViolated):
    code = "refund_exceeds_captured"


class RefundIdReused(RuleViolated):
    code = "refund_id_reused"


class Payment(Aggregate):
    """Created by the gateway's answer to an authorization: Authorized or
    AuthorizationDeclined. Capture, void and refund each carry an id derived from the
    client's Idempotency-Key; the same id again is a no-op."""

    def __init__(self, order_id: UUID, amount: Money, card_brand: str, last_four: str) -> None:
        self.order_id = order_id
        self.amount = amount
        self.card_brand = card_brand
        self.last_four = last_four
        self.status = PaymentStatus.AUTHORIZED
        self.authorization = ""  # the processor's reference for the authorization
        self.decline_reason: str | None = None
        self.captured = Money(0, amount.currency)
        self.capture_id: UUID | None = None
        self.void_id: UUID | None = None
        self.refunds: dict[UUID, Money] = {}
        self.refunded = Money(0, amount.currency)

    class Authorized(Aggregate.Created):
        order_id: UUID
        amount: Money
        card_brand: str
        last_four: str
        authorization: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Payment)
            aggregate.authorization = self.authorization

    class AuthorizationDeclined(Aggregate.Created):
        order_id: UUID
        amount: Money
        card_brand: str
        last_four: str
        reason: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Payment)
            aggregate.status = PaymentStatus.DECLINED
            aggregate.decline_reason = self.reason

    @classmethod
    def authorized(
        cls,
        payment_id: UUID,
        order_id: UUID,
        amount: Money,
        card_brand: str,
        last_four: str,
        authorization: str,
    ) -> Payment:
        check_positive(amount)
        return cls._create(
            cls.Authorized,
            id=payment_id,
            order_id=order_id,
            amount=amount,
            card_brand=card_brand,
            last_four=last_four,
            authorization=authorization,
        )

    @classmethod
    def declined(
        cls,
        payment_id: UUID,
        order_id: UUID,
        amount: Money,
        card_brand: str,
        last_four: str,
        reason: str,
    ) -> Payment:
        check_positive(amount)
        return cls._create(
            cls.AuthorizationDeclined,
            id=payment_id,
            order_id=order_id,
            amount=amount,
            card_brand=card_brand,
            last_four=last_four,
            reason=reason,
        )

    def already_did(self, effect_id: UUID) -> bool:
        """Whether a capture, void or refund with this id was recorded."""
        return effect_id in (self.capture_id, self.void_id) or effect_id in self.refunds

    class Captured(Aggregate.Event):
        capture_id: UUID
        amount: Money
        reference: str

    def check_capture(self, amount: Money | None) -> Money:
        """What a capture of ``amount`` (None: all of it) would take; raises if it may not."""
        self.check_status(PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED)
        amount = self.amount if amount is None else amount
        self.check_currency(amount)
        if amount.minor > self.amount.minor:
            raise CaptureExceedsAuthorization(f"cannot capture {amount}: {self.amount} authorized")
        return amount

    def capture(self, capture_id: UUID, amount: Money, reference: str) -> None:
        if self.capture_id == capture_id:
            return
        self.check_capture(amount)
        self._captured(capture_id, amount, reference)

    @event(Captured)
    def _captured(self, capture_id: UUID, amount: Money, reference: str) -> None:
        self.capture_id = capture_id
        self.captured = amount
        self.status = PaymentStatus.CAPTURED

    class Voided(Aggregate.Event):
        void_id: UUID
        reference: str

    def check_void(self) -> None:
        self.check_status(PaymentStatus.AUTHORIZED, PaymentStatus.VOIDED)

    def void(self, void_id: UUID, reference: str) -> None:
        if self.void_id == void_id:
            return
        self.check_void()
        self._voided(void_id, reference)

    @event(Voided)
    def _voided(self, void_id: UUID, reference: str) -> None:
        self.void_id = void_id
        self.status = PaymentStatus.VOIDED

    class Refunded(Aggregate.Event):
        refund_id: UUID
        amount: Money
        reference: str

    def check_refund(self, amount: Money) -> None:
        self.check_status(PaymentStatus.CAPTURED, PaymentStatus.REFUNDED)
        self.check_currency(amount)
        if self.refunded.minor + amount.minor > self.captured.minor:
            raise RefundExceedsCaptured(
                f"refunding {amount} would exceed the {self.captured} captured "
                f"({self.refunded} already refunded)"
            )

    def refund(self, refund_id: UUID, amount: Money, reference: str) -> None:
        if refund_id in self.refunds:
            if self.refunds[refund_id] != amount:
                raise RefundIdReused(f"refund {refund_id} was for {self.refunds[refund_id]}")
            return
        self.check_refund(amount)
        self._refunded(refund_id, amount, reference)

    @event(Refunded)
    def _refunded(self, refund_id: UUID, amount: Money, reference: str) -> None:
        self.refunds[refund_id] = amount
        self.refunded = Money(self.refunded.minor + amount.minor, amount.currency)
        if self.refunded == self.captured:
            self.status = PaymentStatus.REFUNDED

    def check_status(self, required: PaymentStatus, target: PaymentStatus) -> None:
        if self.status is not required:
            raise IllegalTransition(self.id, self.status, target)

    def check_currency(self, amount: Money) -> None:
        if amount.currency != self.amount.currency:
            raise InvalidAmount(f"amount must be in {self.amount.currency}, not {amount.currency}")
        check_positive(amount)


def check_positive(amount: Money) -> None:
    if amount.minor <= 0:
        raise InvalidAmount(f"amount must be positive, not {amount}")
