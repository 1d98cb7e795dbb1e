"""Given-when-then for the Payment aggregate, and for the application service that asks the
gateway first and then records its answer (in-memory event store, sandbox processor)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from commands.base import CommandResult
from commands.payments.application import (
    GatewayTimedOut,
    GatewayUnavailable,
    PaymentDeclined,
    PaymentsApplication,
)
from commands.payments.gateway import GatewayResult, RetryLater
from domain.money import Money
from domain.payments import IllegalTransition, Payment, PaymentStatus
from domain.payments.payment import (
    CaptureExceedsAuthorization,
    InvalidAmount,
    RefundExceedsCaptured,
    RefundIdReused,
)
from infra.payments.sandbox import SandboxGateway

ORDER = UUID("00000000-0000-4000-8000-0000000000a1")
EUR_100 = Money(10000, "EUR")


def authorized(amount: Money = EUR_100) -> Payment:
    payment = Payment.authorized(uuid4(), ORDER, amount, "visa", "4242", "auth_1")
    payment.collect_events()
    return payment


def captured(amount: Money = EUR_100) -> Payment:
    payment = authorized()
    payment.capture(uuid4(), amount, "cap_1")
    payment.collect_events()
    return payment


def test_an_authorization_records_the_amount_card_brand_last_four_and_reference() -> None:
    payment_id = uuid4()

    payment = Payment.authorized(payment_id, ORDER, EUR_100, "visa", "4242", "auth_1")

    (event,) = payment.collect_events()
    assert isinstance(event, Payment.Authorized)
    assert (event.originator_id, event.order_id, event.amount) == (payment_id, ORDER, EUR_100)
    assert (event.card_brand, event.last_four, event.authorization) == ("visa", "4242", "auth_1")
    assert payment.status is PaymentStatus.AUTHORIZED


def test_a_declined_authorization_is_recorded_with_its_reason_and_goes_nowhere() -> None:
    payment = Payment.declined(uuid4(), ORDER, EUR_100, "visa", "4242", "insufficient_funds")

    (event,) = payment.collect_events()
    assert isinstance(event, Payment.AuthorizationDeclined)
    assert event.reason == "insufficient_funds"
    assert payment.status is PaymentStatus.DECLINED
    with pytest.raises(IllegalTransition, match="from declined to captured"):
        payment.check_capture(None)


def test_capturing_without_an_amount_takes_all_that_was_authorized() -> None:
    payment = authorized()

    amount = payment.check_capture(None)
    payment.capture(capture_id := uuid4(), amount, "cap_1")

    (event,) = payment.collect_events()
    assert isinstance(event, Payment.Captured)
    assert (event.capture_id, event.amount) == (capture_id, EUR_100)
    assert payment.status is PaymentStatus.CAPTURED


def test_a_partial_capture_takes_less_than_authorized() -> None:
    payment = authorized()

    payment.capture(uuid4(), Money(6000, "EUR"), "cap_1")

    assert payment.captured == Money(6000, "EUR")


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (Money(10001, "EUR"), CaptureExceedsAuthorization),
        (Money(0, "EUR"), InvalidAmount),
        (Money(100, "USD"), InvalidAmount),
    ],
)
def test_a_capture_beyond_the_authorization_or_in_another_currency_is_refused(
    amount: Money, error: type[Exception]
) -> None:
    payment = authorized()

    with pytest.raises(error):
        payment.capture(uuid4(), amount, "cap_1")
    assert payment.collect_events() == []


def test_the_same_capture_again_changes_nothing_but_a_second_capture_is_illegal() -> None:
    payment = authorized()
    capture_id = uuid4()
    payment.capture(capture_id, EUR_100, "cap_1")
    payment.collect_events()

    payment.capture(capture_id, EUR_100, "cap_1")
    assert payment.collect_events() == []
    with pytest.raises(IllegalTransition, match="from captured to captured"):
        payment.capture(uuid4(), EUR_100, "cap_2")


def test_voiding_releases_an_authorization_that_was_not_captured() -> None:
    payment = authorized()

    payment.void(uuid4(), "void_1")

    (event,) = payment.collect_events()
    assert isinstance(event, Payment.Voided)
    assert payment.status is PaymentStatus.VOIDED
    with pytest.raises(IllegalTransition):
        payment.capture(uuid4(), EUR_100, "cap_1")


def test_a_captured_payment_cannot_be_voided() -> None:
    with pytest.raises(IllegalTransition, match="from captured to voided"):
        captured().void(uuid4(), "void_1")


def test_partial_refunds_add_up_and_the_last_one_makes_it_refunded() -> None:
    payment = captured(Money(8000, "EUR"))

    payment.refund(uuid4(), Money(3000, "EUR"), "re_1")
    assert payment.status is PaymentStatus.CAPTURED
    payment.refund(uuid4(), Money(5000, "EUR"), "re_2")

    assert [type(e) for e in payment.collect_events()] == [Payment.Refunded, Payment.Refunded]
    assert payment.refunded == Money(8000, "EUR")
    # mypy keeps the CAPTURED narrowing from above across refund(); the status did change.
    assert payment.status is PaymentStatus.REFUNDED  # type: ignore[comparison-overlap]


def test_refunds_never_exceed_what_was_captured() -> None:
    payment = captured(Money(8000, "EUR"))
    payment.refund(uuid4(), Money(5000, "EUR"), "re_1")

    with pytest.raises(RefundExceedsCaptured):
        payment.refund(uuid4(), Money(3001, "EUR"), "re_2")


def test_the_same_refund_again_is_a_no_op_and_with_another_amount_is_refused() -> None:
    payment = captured()
    refund_id = uuid4()
    payment.refund(refund_id, Money(1000, "EUR"), "re_1")
    payment.collect_events()

    payment.refund(refund_id, Money(1000, "EUR"), "re_1")

    assert payment.collect_events() == []
    with pytest.raises(RefundIdReused):
        payment.refund(refund_id, Money(2000, "EUR"), "re_1")


def test_an_uncaptured_payment_cannot_be_refunded() -> None:
    with pytest.raises(IllegalTransition, match="from authorized to refunded"):
        authorized().refund(uuid4(), Money(100, "EUR"), "re_1")


# The application service: gateway first, then events.


@pytest.fixture
def sandbox() -> SandboxGateway:
    return SandboxGateway(f"unit-{uuid4()}", timeout_seconds=0.01)


@pytest.fixture
def payments(sandbox: SandboxGateway) -> PaymentsApplication:
    return PaymentsApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, gateway=sandbox)


def authorize(payments: PaymentsApplication, key: str, token: str = "tok_approve") -> CommandResult:
    """EUR 100.00 of ORDER, on a visa ending 4242 that the sandbox knows by ``token``."""
    return payments.authorize(
        ORDER, EUR_100, payment_token=token, card_brand="visa", last_four="4242", key=key
    )


def test_an_approved_authorization_is_recorded_with_the_processors_reference(
    payments: PaymentsApplication, sandbox: SandboxGateway
) -> None:
    result = authorize(payments, "key-00000001")

    payment = payments.get_payment(result.id)
    assert payment.status is PaymentStatus.AUTHORIZED
    assert payment.authorization in sandbox.ledger.authorizations
    assert result.id == payments.idempotent_id("key-00000001")


def test_a_decline_is_recorded_and_then_reported(payments: PaymentsApplication) -> None:
    with pytest.raises(PaymentDeclined) as declined:
        authorize(payments, "key-00000002", "tok_decline_insufficient_funds")

    assert declined.value.reason == "insufficient_funds"
    payment = payments.get_payment(declined.value.payment_id)
    assert payment.status is PaymentStatus.DECLINED


def test_a_gateway_timeout_records_nothing(payments: PaymentsApplication) -> None:
    with pytest.raises(GatewayTimedOut):
        authorize(payments, "key-00000003", "tok_timeout")

    assert payments.recorder.max_notification_id() in (None, 0)


def test_retry_later_is_asked_again_with_the_same_key(
    payments: PaymentsApplication, sandbox: SandboxGateway
) -> None:
    result = authorize(payments, "key-00000004", "tok_retry_then_approve")

    assert payments.get_payment(result.id).status is PaymentStatus.AUTHORIZED
    assert [m.kind for m in sandbox.ledger.movements] == ["authorize"]


def test_a_gateway_that_keeps_saying_retry_later_is_unavailable() -> None:
    class Busy(SandboxGateway):
        def authorize(self, *, amount: Money, token: str, idempotency_key: str) -> GatewayResult:
            raise RetryLater(0.0)

    payments = PaymentsApplication(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, gateway=Busy(f"unit-{uuid4()}")
    )
    with pytest.raises(GatewayUnavailable):
        authorize(payments, "key-00000005")


def test_capture_and_refunds_move_money_once_per_key(
    payments: PaymentsApplication, sandbox: SandboxGateway
) -> None:
    payment_id = authorize(payments, "key-00000006").id

    payments.capture(payment_id, None, "capture-key")
    payments.capture(payment_id, None, "capture-key")
    payments.refund(payment_id, Money(3000, "EUR"), "refund-key")
    payments.refund(payment_id, Money(3000, "EUR"), "refund-key")

    payment = payments.get_payment(payment_id)
    assert (payment.captured, payment.refunded) == (EUR_100, Money(3000, "EUR"))
    assert [m.kind for m in sandbox.ledger.movements] == ["authorize", "capture", "refund"]


def test_a_command_the_domain_refuses_never_reaches_the_processor(
    payments: PaymentsApplication, sandbox: SandboxGateway
) -> None:
    payment_id = authorize(payments, "key-00000007").id

    with pytest.raises(IllegalTransition):
        payments.refund(payment_id, Money(100, "EUR"), "refund-key")
    with pytest.raises(CaptureExceedsAuthorization):
        payments.capture(payment_id, Money(10001, "EUR"), "capture-key")

    assert [m.kind for m in sandbox.ledger.movements] == ["authorize"]
