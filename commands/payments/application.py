"""The payments context's application service: ask the gateway, then record its answer.

Money moves only through the gateway port, always with an idempotency key derived from
the client's Idempotency-Key, so a retried command never moves money twice. The order is
guards, gateway, events: a command the domain would refuse never reaches the processor,
and what the processor did is always recorded (re-decided on fresh state if a concurrent
write got there first). No answer (a timeout) records nothing: the client retries with the
same key and gets the processor's first answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from uuid import UUID

from commands.base import CommandResult, ShopApplication, VersionConflict
from commands.idempotency import IdempotencyKeyReused, IdempotencyStore
from commands.payments.gateway import (
    Approved,
    Declined,
    GatewayResult,
    GatewayTimeout,
    IdempotencyKeyMismatch,
    PaymentGateway,
    RetryLater,
)
from commands.payments.resilience import CircuitOpen, ResilientGateway
from commands.privacy.personal_data import PersonalDataKeys
from domain.errors import DomainError
from domain.money import Money
from domain.payments import Payment, PaymentStatus

GATEWAY_ATTEMPTS = 3
MAX_RETRY_AFTER_SECONDS = 2.0


class PaymentDeclined(DomainError):
    code = "payment_declined"

    def __init__(self, payment_id: UUID, reason: str) -> None:
        super().__init__(f"the processor declined payment {payment_id}: {reason}")
        self.payment_id = payment_id
        self.reason = reason


class GatewayTimedOut(DomainError):
    code = "gateway_timeout"


class GatewayUnavailable(DomainError):
    code = "gateway_unavailable"

    def __init__(self, detail: str, retry_after_seconds: float) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class PaymentsApplication(ShopApplication):
    name = "payments"
    context = "payments"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        idempotency: IdempotencyStore | None = None,
        personal_keys: PersonalDataKeys | None = None,
        *,
        gateway: PaymentGateway,
    ) -> None:
        super().__init__(env, idempotency, personal_keys)
        self.gateway = gateway  # the composition root's: the sandbox, or a processor's adapter

    def close(self) -> None:
        if isinstance(self.gateway, ResilientGateway):
            self.gateway.close()
        super().close()

    def authorize(
        self,
        order_id: UUID,
        amount: Money,
        *,
        payment_token: str,
        card_brand: str,
        last_four: str,
        key: str,
    ) -> CommandResult:
        """Authorize once per key: the payment's id derives from it. The token is the
        processor's; the card's brand and last four digits are all that is kept of it."""
        payment_id = self.payment_id(key)
        if payment_id in self.repository:
            return self._first_answer(self.get_payment(payment_id))
        outcome = self._ask(
            lambda: self.gateway.authorize(
                amount=amount, token=payment_token, idempotency_key=str(payment_id)
            )
        )
        card = (order_id, amount, card_brand, last_four)
        if isinstance(outcome, Approved):
            payment = Payment.authorized(payment_id, *card, authorization=outcome.reference)
        else:
            payment = Payment.declined(payment_id, *card, reason=outcome.reason)
        result = self.create(payment, conflict=None)  # a concurrent repeat got the same answer
        if isinstance(outcome, Declined):
            raise PaymentDeclined(payment_id, outcome.reason)
        return result

    def capture(
        self,
        payment_id: UUID,
        amount: Money | None,
        key: str,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Capture ``amount`` of the authorization (None: all of it)."""
        capture_id = self._effect_id(payment_id, "capture", key)
        payment = self._current(payment_id, expected_version)
        if payment.already_did(capture_id):
            return self.save_and_report(payment)
        captured = payment.check_capture(amount)
        reference = self._approved(
            payment_id,
            lambda: self.gateway.capture(
                authorization=payment.authorization,
                amount=captured,
                idempotency_key=str(capture_id),
            ),
        )
        return self.update(
            Payment, payment_id, "payment", lambda p: p.capture(capture_id, captured, reference)
        )

    def void(
        self, payment_id: UUID, key: str, expected_version: int | None = None
    ) -> CommandResult:
        void_id = self._effect_id(payment_id, "void", key)
        payment = self._current(payment_id, expected_version)
        if payment.already_did(void_id):
            return self.save_and_report(payment)
        payment.check_void()
        reference = self._approved(
            payment_id,
            lambda: self.gateway.void(
                authorization=payment.authorization, idempotency_key=str(void_id)
            ),
        )
        return self.update(Payment, payment_id, "payment", lambda p: p.void(void_id, reference))

    def refund(
        self, payment_id: UUID, amount: Money, key: str, expected_version: int | None = None
    ) -> CommandResult:
        refund_id = self.refund_id(payment_id, key)
        payment = self._current(payment_id, expected_version)
        if payment.already_did(refund_id):
            payment.refund(refund_id, amount, "")  # a no-op, or refund_id_reused
            return self.save_and_report(payment)
        payment.check_refund(amount)
        reference = self._approved(
            payment_id,
            lambda: self.gateway.refund(
                authorization=payment.authorization, amount=amount, idempotency_key=str(refund_id)
            ),
        )
        return self.update(
            Payment, payment_id, "payment", lambda p: p.refund(refund_id, amount, reference)
        )

    # The ids of what a keyed command creates, for whoever must recognise its effect later
    # (the saga, ADR 0037): ask for them here, never recompute them.

    def payment_id(self, key: str) -> UUID:
        """The payment an authorization with this key creates."""
        return self.idempotent_id(key)

    def refund_id(self, payment_id: UUID, key: str) -> UUID:
        """The refund a refund of the payment with this key records."""
        return self._effect_id(payment_id, "refund", key)

    def _effect_id(self, payment_id: UUID, kind: str, key: str) -> UUID:
        return self.idempotent_id(f"{payment_id}/{kind}/{key}")

    def get_payment(self, payment_id: UUID) -> Payment:
        return self.load(Payment, payment_id, "payment")

    def _current(self, payment_id: UUID, expected_version: int | None) -> Payment:
        payment = self.get_payment(payment_id)
        if expected_version is not None and payment.version != expected_version:
            raise VersionConflict(
                f"payment {payment_id} is at version {payment.version}, not {expected_version}"
            )
        return payment

    def _first_answer(self, payment: Payment) -> CommandResult:
        """What the authorization answered: its result, or the decline again."""
        if payment.status is PaymentStatus.DECLINED:
            raise PaymentDeclined(payment.id, payment.decline_reason or "declined")
        return self.result_at(payment.id, 1)

    def _approved(self, payment_id: UUID, call: Callable[[], GatewayResult]) -> str:
        outcome = self._ask(call)
        if isinstance(outcome, Declined):
            raise PaymentDeclined(payment_id, outcome.reason)
        return outcome.reference

    def _ask(self, call: Callable[[], GatewayResult]) -> GatewayResult:
        """The gateway's answer, asking again (same key) while it says "retry later"."""
        wait = 0.0
        for _ in range(GATEWAY_ATTEMPTS):
            try:
                return call()
            except CircuitOpen as e:
                raise GatewayUnavailable(
                    "the payment gateway is failing; calls are paused for a while",
                    e.retry_after_seconds,
                ) from None
            except RetryLater as e:
                wait = min(e.retry_after_seconds, MAX_RETRY_AFTER_SECONDS)
                time.sleep(wait)
            except IdempotencyKeyMismatch:
                raise IdempotencyKeyReused(
                    "the payment gateway saw this Idempotency-Key with a different request"
                ) from None
            except GatewayTimeout:
                raise GatewayTimedOut(
                    "the payment gateway did not answer in time; retry with the same "
                    "Idempotency-Key to learn the outcome"
                ) from None
        raise GatewayUnavailable(
            f"the payment gateway asked to retry later ({GATEWAY_ATTEMPTS} attempts); "
            "retry with the same Idempotency-Key",
            wait,
        )
