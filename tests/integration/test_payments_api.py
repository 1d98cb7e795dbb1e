"""The payments command API over a real event store and the sandbox processor.

Money moves once per Idempotency-Key, card data never gets in, and the processor's answers
(declined, no answer, retry later) are told apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from commands.payments.application import PaymentsApplication
from domain.money import Money
from domain.payments import Payment, PaymentStatus
from infra.payments.sandbox import Ledger
from infra.payments.sandbox_postgres import PostgresSandboxLedger
from infra.settings import Settings
from tests.support.answers import assert_created, assert_problem
from tests.support.apis import in_process
from tests.support.applications import head

pytestmark = pytest.mark.integration

PAYMENT: dict[str, Any] = {
    "order_id": "5a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "amount": {"amount": "74.88", "currency": "EUR"},
    "payment_token": "tok_approve",
    "card_brand": "visa",
    "last_four": "4242",
}
UNKNOWN = "7d9f1c9e-59a4-4cbb-9d8e-0f7b0c6a3a11"
CARD = "4242 4242 4242 4242"  # a test card number that passes the Luhn check


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    quick = settings.model_copy(update={"payments_sandbox_timeout_seconds": 0.1})
    yield from in_process(quick, "command", admin=True)


@pytest.fixture
def ledger(settings: Settings) -> Ledger:
    """The sandbox account of this test's payments application (kept in Postgres)."""
    schema = settings.schema_for("payments")
    return PostgresSandboxLedger(settings.database_url, schema, schema)


def events(payments: PaymentsApplication) -> list[str]:
    return [n.topic.rsplit(".", 1)[-1] for n in payments.recorder.select_notifications(1, 1000)]


def key(name: str) -> dict[str, str]:
    return {"Idempotency-Key": f"{name}-key-0001"}


def with_(**changes: Any) -> dict[str, Any]:
    return {**PAYMENT, **changes}


def authorize_with(client: TestClient, token: str, headers: dict[str, str]) -> Any:
    """An authorization of ``PAYMENT`` paid with ``token``: the sandbox processor answers by
    token (``tok_decline_…``, ``tok_timeout``, ``tok_retry_then_approve``)."""
    return client.post("/payments", json=with_(payment_token=token), headers=headers)


def authorized(client: TestClient, name: str = "auth") -> UUID:
    response = client.post("/payments", json=PAYMENT, headers=key(name))
    assert response.status_code == 201, response.text
    return UUID(response.json()["id"])


def captured(client: TestClient) -> UUID:
    payment_id = authorized(client)
    response = client.post(f"/payments/{payment_id}/capture", headers=key("capture"))
    assert response.status_code == 200, response.text
    return payment_id


def move_money(
    client: TestClient,
    payment_id: UUID,
    move: str,
    name: str,
    amount: str,
    if_match: int | None = None,
) -> Any:
    """A ``move`` (``"capture"``, ``"refunds"``) of ``amount`` EUR under the Idempotency-Key
    ``name``, against version ``if_match`` of the payment if given."""
    headers = key(name) if if_match is None else {**key(name), "If-Match": f'"{if_match}"'}
    return client.post(
        f"/payments/{payment_id}/{move}",
        json={"amount": {"amount": amount, "currency": "EUR"}},
        headers=headers,
    )


def refund(client: TestClient, payment_id: UUID, name: str, amount: str) -> Any:
    return move_money(client, payment_id, "refunds", name, amount)


def test_an_approved_authorization_answers_201_and_is_recorded(
    client: TestClient, payments: PaymentsApplication, ledger: Ledger
) -> None:
    response = client.post("/payments", json=PAYMENT, headers=key("auth"))

    body = assert_created(response, payments)
    payment = payments.get_payment(UUID(body["id"]))
    assert (payment.status, payment.amount) == (PaymentStatus.AUTHORIZED, Money(7488, "EUR"))
    assert (payment.card_brand, payment.last_four) == ("visa", "4242")
    assert payment.authorization in ledger.authorizations


@pytest.mark.parametrize(
    "path", ["/payments", f"/payments/{UNKNOWN}/capture", f"/payments/{UNKNOWN}/void"]
)
def test_moving_money_without_an_idempotency_key_is_428_and_changes_nothing(
    client: TestClient, payments: PaymentsApplication, ledger: Ledger, path: str
) -> None:
    response = client.post(path, json=PAYMENT if path == "/payments" else None)

    assert_problem(response, 428, "idempotency_key_required")
    assert head(payments) == 0
    assert ledger.movements == []


def test_ten_concurrent_requests_with_one_key_authorize_once_and_answer_the_same(
    client: TestClient, payments: PaymentsApplication, ledger: Ledger
) -> None:
    def post(_: int) -> tuple[int, Any]:
        response = client.post("/payments", json=PAYMENT, headers=key("concurrent"))
        return response.status_code, response.json()

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(post, range(10)))

    assert {status for status, _ in answers} == {201}
    assert all(body == answers[0][1] for _, body in answers)
    assert events(payments) == ["Authorized"]
    assert len(ledger.authorizations) == 1
    assert [m.kind for m in ledger.movements] == ["authorize"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in PAYMENT.items() if k != "amount"}, "body.amount"),
        (with_(amount={"amount": "0.00", "currency": "EUR"}), "body.amount.amount"),
        (with_(amount={"amount": "-5", "currency": "EUR"}), "body.amount.amount"),
        (with_(amount={"amount": "1.005", "currency": "EUR"}), "body.amount"),
        (with_(amount={"amount": "5", "currency": "eur"}), "body.amount.currency"),
        (with_(payment_token="approve"), "body.payment_token"),
        (with_(card_brand="visa electron"), "body.card_brand"),
        (with_(last_four="42"), "body.last_four"),
        (with_(last_four=4242), "body.last_four"),
        (with_(order_id="order-1"), "body.order_id"),
        (with_(billing_address="1 Main St"), "body.billing_address"),
    ],
)
def test_invalid_authorizations_get_a_problem_naming_the_field_and_append_nothing(
    client: TestClient, payments: PaymentsApplication, body: Any, field: str
) -> None:
    response = client.post("/payments", json=body, headers=key("invalid"))

    assert_problem(response, 422, "validation_failed", field=field)
    assert head(payments) == 0


@pytest.mark.parametrize(
    ("field", "secret"),
    [
        ("card_number", CARD),
        ("pan", "4111111111111111"),
        ("payment_token", CARD.replace(" ", "")),
        ("last_four", "4242-4242-4242-4242"),
        ("card", {"number": 4242424242424242}),
        ("cvv", "123"),
        ("CVC2", "123"),
        ("security_code", "1234"),
    ],
)
def test_card_numbers_and_security_codes_are_refused_without_being_echoed_or_stored(
    client: TestClient, payments: PaymentsApplication, field: str, secret: Any
) -> None:
    response = client.post("/payments", json=with_(**{field: secret}), headers=key("pci"))

    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["type"] == "card_data_refused"
    assert field in problem["errors"][0]["message"]
    for value in (secret, *(secret.values() if isinstance(secret, dict) else ())):
        assert f"{value}" not in response.text
    assert head(payments) == 0


def test_a_token_that_hides_a_card_number_is_refused(client: TestClient) -> None:
    response = authorize_with(client, "tok_4242424242424242", key("pci"))

    assert response.status_code == 422
    assert "4242424242424242" not in response.text


def test_a_decline_is_402_recorded_once_and_answered_the_same_on_repeat(
    client: TestClient, payments: PaymentsApplication
) -> None:
    first = authorize_with(client, "tok_decline_insufficient_funds", key("declined"))
    again = authorize_with(client, "tok_decline_insufficient_funds", key("declined"))

    assert (first.status_code, again.status_code) == (402, 402)
    assert first.json()["code"] == "payment_declined"
    assert "insufficient_funds" in first.json()["detail"]
    assert first.json() == again.json()
    assert events(payments) == ["AuthorizationDeclined"]


def test_a_gateway_timeout_is_504_and_records_nothing(
    client: TestClient, payments: PaymentsApplication
) -> None:
    response = authorize_with(client, "tok_timeout", key("timeout"))

    assert_problem(response, 504, "gateway_timeout")
    assert head(payments) == 0


def test_retry_later_is_retried_with_the_same_key_and_approved(
    client: TestClient, ledger: Ledger
) -> None:
    response = authorize_with(client, "tok_retry_then_approve", key("retry"))

    assert response.status_code == 201
    assert len(ledger.authorizations) == 1


def test_capture_then_partial_refunds_up_to_the_captured_amount(
    client: TestClient, payments: PaymentsApplication, ledger: Ledger
) -> None:
    payment_id = authorized(client)

    capture = move_money(client, payment_id, "capture", "capture", "50.00", if_match=1)
    first = refund(client, payment_id, "refund-1", "30.00")
    too_much = refund(client, payment_id, "refund-2", "20.01")
    rest = refund(client, payment_id, "refund-3", "20.00")

    assert (capture.status_code, capture.json()["version"]) == (200, 2)
    assert (first.status_code, rest.status_code) == (200, 200)
    assert_problem(too_much, 422, "refund_exceeds_captured")
    payment = payments.get_payment(payment_id)
    assert (payment.status, payment.captured) == (PaymentStatus.REFUNDED, Money(5000, "EUR"))
    assert [m.kind for m in ledger.movements] == ["authorize", "capture", "refund", "refund"]


def test_the_same_refund_key_twice_refunds_once(
    client: TestClient, payments: PaymentsApplication, ledger: Ledger
) -> None:
    payment_id = captured(client)

    first = refund(client, payment_id, "refund-1", "10.00")
    again = refund(client, payment_id, "refund-1", "10.00")

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == again.json()
    assert payments.get_payment(payment_id).refunded == Money(1000, "EUR")
    assert [m.kind for m in ledger.movements].count("refund") == 1


def test_a_capture_beyond_the_authorization_is_refused_before_the_processor(
    client: TestClient, ledger: Ledger
) -> None:
    payment_id = authorized(client)

    response = move_money(client, payment_id, "capture", "capture", "74.89")

    assert_problem(response, 422, "capture_exceeds_authorization")
    assert [m.kind for m in ledger.movements] == ["authorize"]


def test_void_releases_an_authorization_but_not_after_capture(
    client: TestClient, payments: PaymentsApplication
) -> None:
    voided, taken = authorized(client, "auth-a"), captured(client)

    void = client.post(f"/payments/{voided}/void", headers=key("void-a"))
    too_late = client.post(f"/payments/{taken}/void", headers=key("void-b"))

    assert void.status_code == 200
    assert payments.get_payment(voided).status is PaymentStatus.VOIDED
    assert too_late.status_code == 409
    problem = too_late.json()
    assert problem["code"] == "illegal_transition"
    assert "from captured to voided" in problem["detail"]


def test_an_uncaptured_payment_cannot_be_refunded(client: TestClient) -> None:
    payment_id = authorized(client)

    response = refund(client, payment_id, "refund-1", "1.00")

    assert_problem(response, 409, "illegal_transition")


def test_money_moves_on_an_unknown_payment_are_not_found(client: TestClient) -> None:
    for path in ("capture", "void"):
        response = client.post(f"/payments/{UNKNOWN}/{path}", headers=key(path))
        assert_problem(response, 404, "not_found")


def test_a_stale_if_match_is_a_conflict_and_moves_no_money(
    client: TestClient, ledger: Ledger
) -> None:
    payment_id = captured(client)

    stale = move_money(client, payment_id, "refunds", "refund", "1.00", if_match=1)

    assert_problem(stale, 409, "version_conflict")
    assert "refund" not in [m.kind for m in ledger.movements]


def test_one_key_for_two_different_payments_is_refused(client: TestClient) -> None:
    first, second = authorized(client, "auth-a"), authorized(client, "auth-b")
    assert client.post(f"/payments/{first}/capture", headers=key("capture")).status_code == 200

    response = client.post(f"/payments/{second}/capture", headers=key("capture"))

    assert_problem(response, 422, "idempotency_key_reused")


def test_the_events_hold_no_card_data(client: TestClient, payments: PaymentsApplication) -> None:
    payment_id = authorized(client)

    (stored,) = payments.recorder.select_events(payments.idempotent_id("auth-key-0001"))

    assert payments.mapper.cipher is not None  # events are encrypted at rest
    state = json.loads(payments.mapper.cipher.decrypt(stored.state))
    assert stored.originator_id == payment_id
    assert state["last_four"] == "4242"
    assert "payment_token" not in state
    assert stored.topic.endswith(f"{Payment.__name__}.Authorized")
