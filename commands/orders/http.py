"""Orders command endpoints.

An order only moves forward through its lifecycle; any other step is a 409
``illegal_transition`` (a ``Conflict``, mapped by ``infra.http``) naming where it is and
where it was asked to go. Placing takes an optional ``Idempotency-Key`` (the order's id
derives from it); a refund needs one (it is the refund's id: without it, 428
``idempotency_key_required``, raised as ``commands.http.problems.Problem``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response, status

from commands.base import CommandResult
from commands.http.headers import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    expected_version,
    with_etag,
)
from commands.http.problems import IdempotencyKeyRequired, Problem
from commands.metadata import caused_by, current_correlation_id
from commands.orders.application import OrdersApplication
from commands.orders.models import (
    CancelOrder,
    MarkPaymentAuthorized,
    PaymentMethod,
    PlaceOrder,
    RefundOrder,
)
from domain.errors import NotFound
from security.access import Admin, AdminOnly, CurrentUser, owned
from security.audit import Audit


def router(orders: OrdersApplication, read_api_url: str) -> APIRouter:
    routes = APIRouter(prefix="/orders", tags=["orders"])

    # Lines carry prices: only staff (or the saga, in-process) place orders.
    @routes.post(
        "", status_code=status.HTTP_201_CREATED, response_model=CommandResult, dependencies=[Admin]
    )
    def place_order(
        body: PlaceOrder,
        response: Response,
        idempotency_key: IdempotencyKey = None,
        x_correlation_id: CorrelationId = None,
    ) -> dict[str, Any]:
        """Place an order from a checked-out cart's lines; prices are fixed from here on."""
        with caused_by(x_correlation_id):
            result = orders.once(
                idempotency_key, "place", body, lambda: orders.place_order(body, idempotency_key)
            )
        response.headers["Location"] = f"{read_api_url}/orders/{result['id']}"
        return with_etag(response, result)

    steps = {
        "stock-reserved": (orders.mark_stock_reserved, "Stock for every line is reserved."),
        "confirm": (orders.confirm, "Confirm a paid order."),
        "ship": (orders.ship, "The order left the warehouse."),
        "deliver": (orders.deliver, "The order reached the customer."),
    }
    for path, (change, summary) in steps.items():
        routes.add_api_route(
            f"/{{order_id}}/{path}",
            step_endpoint(change),
            methods=["POST"],
            name=path.replace("-", "_"),
            summary=summary,
            response_model=CommandResult,
            dependencies=[Admin],  # an order's status is staff's to move, never a customer's
        )

    @routes.post("/{order_id}/payment-authorized", dependencies=[Admin])
    def mark_payment_authorized(
        order_id: UUID,
        body: MarkPaymentAuthorized,
        response: Response,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        """The payment for the order was authorized."""
        with caused_by(x_correlation_id):
            result = orders.mark_payment_authorized(
                order_id, body.payment_id, expected_version(if_match)
            )
        return with_etag(response, result)

    @routes.post("/{order_id}/payment-method")
    def give_payment_method(
        order_id: UUID,
        body: PaymentMethod,
        response: Response,
        principal: CurrentUser,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        """How the customer pays (a processor token, never card data); once per order,
        before its payment is authorized (its customer, or staff). The saga then
        authorizes it."""
        customer_id = orders.get_order(order_id).customer_id
        owned(principal, customer_id, NotFound(f"order {order_id} does not exist"))
        with caused_by(x_correlation_id):
            result = orders.give_payment_method(order_id, body, expected_version(if_match))
        return with_etag(response, result)

    @routes.post("/{order_id}/cancel")
    def cancel(
        order_id: UUID,
        body: CancelOrder,
        response: Response,
        principal: CurrentUser,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        """Cancel an order that has not shipped yet (its customer, or staff)."""
        customer_id = orders.get_order(order_id).customer_id
        owned(principal, customer_id, NotFound(f"order {order_id} does not exist"))
        with caused_by(x_correlation_id):
            result = orders.cancel(order_id, body.reason, expected_version(if_match))
        return with_etag(response, result)

    @routes.post(
        "/{order_id}/refunds", status_code=status.HTTP_202_ACCEPTED, response_model=CommandResult
    )
    def refund(
        order_id: UUID,
        body: RefundOrder,
        response: Response,
        principal: AdminOnly,
        audit: Audit,
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> dict[str, Any]:
        """Ask to refund part or all of a confirmed order, optionally restocking units; each
        Idempotency-Key is one refund. Accepted: the saga pays it back through the payment,
        then the order shows it as refunded (or the refund as rejected, with the reason)."""
        if idempotency_key is None:
            raise Problem(
                status.HTTP_428_PRECONDITION_REQUIRED,
                IdempotencyKeyRequired("a refund is identified by its Idempotency-Key header"),
            )
        key = idempotency_key
        with caused_by(x_correlation_id):
            result = orders.once(
                key,
                f"refund {order_id}",
                body,
                lambda: orders.request_refund(
                    order_id,
                    body.amount.to_money(),
                    {line.sku: line.quantity for line in body.restock},
                    key,
                    expected_version(if_match),
                ),
            )
            audit.record(
                principal.actor,
                "orders.refund",
                f"order:{order_id}",
                current_correlation_id(),
                {"amount": body.amount.model_dump(mode="json"), "idempotency_key": key},
            )
        return with_etag(response, result)

    return routes


def step_endpoint(
    change: Callable[[UUID, int | None], CommandResult],
) -> Callable[..., CommandResult]:
    """An endpoint for a lifecycle step that needs nothing but the order's id."""

    def take_step(
        order_id: UUID,
        response: Response,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        with caused_by(x_correlation_id):
            result = change(order_id, expected_version(if_match))
        return with_etag(response, result)

    return take_step
