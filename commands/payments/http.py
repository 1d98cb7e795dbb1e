"""Payments command endpoints.

Every one of them moves money, so each needs an ``Idempotency-Key``: without one the
answer is 428 ``idempotency_key_required`` (nothing is derived, nothing happens). The
processor's answers map to: declined → 402 ``payment_declined`` (the declined authorization
is still recorded), no answer in time → 504 ``gateway_timeout``, "retry later" after a few
attempts → 503 ``gateway_unavailable`` with Retry-After (all raised as
``security.problems.Problem``). An illegal step is a ``Conflict``: ``infra.http``
answers it with 409 ``illegal_transition``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, status

from commands.base import CommandResult
from commands.http.command import Audit, AuditNote, Keyed, KeyedVersioned
from commands.payments.application import (
    GatewayTimedOut,
    GatewayUnavailable,
    PaymentDeclined,
    PaymentsApplication,
)
from commands.payments.models import Authorize, Capture, Refund, Void
from security.access import Admin, AdminOnly
from security.problems import Problem

MOVES_MONEY = "payments move money: send an Idempotency-Key header"


@contextmanager
def processor_answers() -> Iterator[None]:
    """Answer the processor's refusals with their own statuses."""
    try:
        yield
    except PaymentDeclined as e:
        raise Problem(status.HTTP_402_PAYMENT_REQUIRED, e) from e
    except GatewayTimedOut as e:
        raise Problem(status.HTTP_504_GATEWAY_TIMEOUT, e) from e
    except GatewayUnavailable as e:
        retry_after = str(max(1, math.ceil(e.retry_after_seconds)))
        raise Problem(status.HTTP_503_SERVICE_UNAVAILABLE, e, {"Retry-After": retry_after}) from e


def router(payments: PaymentsApplication, read_api_url: str) -> APIRouter:
    # Staff only: a customer never names an amount (ADR 0018); the saga pays in-process.
    routes = APIRouter(prefix="/payments", tags=["payments"], dependencies=[Admin])

    @routes.post("", status_code=status.HTTP_201_CREATED, response_model=CommandResult)
    def authorize(body: Authorize, call: Keyed) -> dict[str, Any]:
        """Authorize a card payment; the same key always answers the same (402 if declined)."""
        key = call.required_key(MOVES_MONEY)
        with processor_answers():
            return call.once(
                payments,
                "authorize",
                body,
                lambda: payments.authorize(
                    body.order_id,
                    body.amount.to_money(),
                    payment_token=body.payment_token,
                    card_brand=body.card_brand,
                    last_four=body.last_four,
                    key=key,
                ),
            )

    @routes.post("/{payment_id}/capture", response_model=CommandResult)
    def capture(
        payment_id: UUID,
        call: KeyedVersioned,
        body: Annotated[Capture | None, Body()] = None,
    ) -> dict[str, Any]:
        """Capture all of the authorization, or the ``amount`` given (at most authorized)."""
        key, request = call.required_key(MOVES_MONEY), body or Capture()
        amount = request.amount.to_money() if request.amount else None
        with processor_answers():
            return call.once(
                payments,
                f"capture {payment_id}",
                request,
                lambda: payments.capture(payment_id, amount, key, call.expected_version),
            )

    @routes.post("/{payment_id}/void", response_model=CommandResult)
    def void(payment_id: UUID, call: KeyedVersioned) -> dict[str, Any]:
        """Release an authorization that was not captured."""
        key = call.required_key(MOVES_MONEY)
        with processor_answers():
            return call.once(
                payments,
                f"void {payment_id}",
                Void(),
                lambda: payments.void(payment_id, key, call.expected_version),
            )

    @routes.post("/{payment_id}/refunds", response_model=CommandResult)
    def refund(
        payment_id: UUID,
        body: Refund,
        principal: AdminOnly,
        audit: Audit,
        call: KeyedVersioned,
    ) -> dict[str, Any]:
        """Refund part or all of what was captured; each key is one refund."""
        key = call.required_key(MOVES_MONEY)
        with processor_answers():
            return call.once(
                payments,
                f"refund {payment_id}",
                body,
                lambda: payments.refund(
                    payment_id, body.amount.to_money(), key, call.expected_version
                ),
                AuditNote(
                    audit,
                    principal,
                    "payments.refund",
                    f"payment:{payment_id}",
                    {"amount": body.amount.model_dump(mode="json"), "idempotency_key": key},
                ),
            )

    return routes
