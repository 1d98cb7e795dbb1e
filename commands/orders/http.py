"""Orders command endpoints.

An order only moves forward through its lifecycle; any other step is a 409
``illegal_transition`` (a ``Conflict``, mapped by ``infra.http``) naming where it is and
where it was asked to go. Placing takes an optional ``Idempotency-Key`` (the order's id
derives from it); a refund needs one (it is the refund's id: without it, 428
``idempotency_key_required``, raised as ``security.problems.Problem``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, status

from commands.base import CommandResult
from commands.http.command import Audit, AuditNote, Keyed, KeyedVersioned, Versioned
from commands.orders.application import OrdersApplication
from commands.orders.models import (
    CancelOrder,
    MarkPaymentAuthorized,
    PaymentMethod,
    PlaceOrder,
    RefundOrder,
)
from domain.errors import NotFound
from security.access import Admin, AdminOnly, CurrentUser, Principal, owned


def router(orders: OrdersApplication, read_api_url: str) -> APIRouter:
    routes = APIRouter(prefix="/orders", tags=["orders"])

    def theirs(order_id: UUID, principal: Principal) -> None:
        """An order of someone else's is as missing as an order that does not exist."""
        customer_id = orders.get_order(order_id).customer_id
        owned(principal, customer_id, NotFound(f"order {order_id} does not exist"))

    # Lines carry prices: only staff (or the saga, in-process) place orders.
    @routes.post(
        "", status_code=status.HTTP_201_CREATED, response_model=CommandResult, dependencies=[Admin]
    )
    def place_order(body: PlaceOrder, call: Keyed) -> dict[str, Any]:
        """Place an order from a checked-out cart's lines; prices are fixed from here on."""
        lines = [line.to_line() for line in body.lines]
        card = None if body.payment is None else body.payment.to_card()
        result = call.once(
            orders,
            "place",
            body,
            lambda: orders.place_order(
                body.customer_id, body.cart_id, lines, call.idempotency_key, card
            ),
        )
        call.locate(f"{read_api_url}/orders/{result['id']}")
        return result

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
        order_id: UUID, body: MarkPaymentAuthorized, call: Versioned
    ) -> CommandResult:
        """The payment for the order was authorized."""
        return call.run(
            lambda: orders.mark_payment_authorized(order_id, body.payment_id, call.expected_version)
        )

    @routes.post("/{order_id}/payment-method")
    def give_payment_method(
        order_id: UUID, body: PaymentMethod, principal: CurrentUser, call: Versioned
    ) -> CommandResult:
        """How the customer pays (a processor token, never card data); once per order,
        before its payment is authorized (its customer, or staff). The saga then
        authorizes it."""
        theirs(order_id, principal)
        return call.run(
            lambda: orders.give_payment_method(order_id, body.to_card(), call.expected_version)
        )

    @routes.post("/{order_id}/cancel")
    def cancel(
        order_id: UUID, body: CancelOrder, principal: CurrentUser, call: Versioned
    ) -> CommandResult:
        """Cancel an order that has not shipped yet (its customer, or staff)."""
        theirs(order_id, principal)
        return call.run(lambda: orders.cancel(order_id, body.reason, call.expected_version))

    @routes.post(
        "/{order_id}/refunds", status_code=status.HTTP_202_ACCEPTED, response_model=CommandResult
    )
    def refund(
        order_id: UUID,
        body: RefundOrder,
        principal: AdminOnly,
        audit: Audit,
        call: KeyedVersioned,
    ) -> dict[str, Any]:
        """Ask to refund part or all of a confirmed order, optionally restocking units; each
        Idempotency-Key is one refund. Accepted: the saga pays it back through the payment,
        then the order shows it as refunded (or the refund as rejected, with the reason)."""
        key = call.required_key("a refund is identified by its Idempotency-Key header")
        restock = {line.sku: line.quantity for line in body.restock}
        return call.once(
            orders,
            f"refund {order_id}",
            body,
            lambda: orders.request_refund(
                order_id, body.amount.to_money(), restock, key, call.expected_version
            ),
            AuditNote(
                audit,
                principal,
                "orders.refund",
                f"order:{order_id}",
                {"amount": body.amount.model_dump(mode="json"), "idempotency_key": key},
            ),
        )

    return routes


def step_endpoint(
    change: Callable[[UUID, int | None], CommandResult],
) -> Callable[..., CommandResult]:
    """An endpoint for a lifecycle step that needs nothing but the order's id."""

    def take_step(order_id: UUID, call: Versioned) -> CommandResult:
        return call.run(lambda: change(order_id, call.expected_version))

    return take_step
