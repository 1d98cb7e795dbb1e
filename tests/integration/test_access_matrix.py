"""Every route of both APIs, by every kind of caller, with another customer's ids.

The routes come from the apps' own route tables, so a route added later is covered without
touching this file: it is called without a token (401), by callers without its role (403),
by a customer with another customer's ids (404, exactly what a missing id answers), by its
owner and by an admin (let through). Nobody ever gets a 5xx.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from commands.carts.application import CartsApplication
from commands.identity.application import IdentityApplication
from commands.orders.application import OrdersApplication
from domain.identity import Role
from domain.money import Money
from domain.orders import OrderLine
from infra import bootstrap
from infra.read_models import rebuild
from infra.settings import Settings
from projections.sinks.postgres_orders import ORDER_HISTORY
from projections.sinks.redis_carts import CARTS
from security.access import policy_of
from tests.support.apis import both_apis, without_rate_limits
from tests.support.auth import bearer, route_table

pytestmark = pytest.mark.integration

ALICE, BOB = uuid4(), uuid4()
# Path parameters that name something a customer owns: another customer's is a 404.
OWNED = ("cart_id", "order_id", "customer_id", "user_id")
# Bodies valid enough to reach the ownership check; other routes get {} (a 422 for
# those allowed in is fine here: this test is about who gets in, not about validation).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/carts"): {"customer_id": str(ALICE)},
    ("POST", "/carts/{cart_id}/items"): {"sku": "MUG-1", "quantity": 1},
    ("PUT", "/carts/{cart_id}/items/{sku}"): {"quantity": 2},
    ("POST", "/orders/{order_id}/cancel"): {"reason": "changed my mind"},
    ("POST", "/orders/{order_id}/payment-method"): {
        "payment_token": "tok_approve",
        "card_brand": "visa",
        "last_four": "4242",
    },
    ("PUT", "/users/{user_id}/profile"): {"display_name": "Alice"},
    ("PUT", "/users/{user_id}/preferences"): {
        "marketing_opt_in": False,
        "language": "en",
        "currency": "EUR",
    },
}


@dataclass(frozen=True)
class Caller:
    name: str
    user_id: UUID | None
    roles: tuple[Role, ...]


ANONYMOUS = Caller("anonymous", None, ())
FOREIGN = Caller("another customer", BOB, (Role.CUSTOMER,))
AUDITOR = Caller("auditor", uuid4(), (Role.AUDITOR,))
ANALYST = Caller("analyst", uuid4(), (Role.ANALYST,))
OWNER = Caller("owner", ALICE, (Role.CUSTOMER,))
ADMIN = Caller("admin", uuid4(), (Role.ADMIN,))
CALLERS = (ANONYMOUS, FOREIGN, AUDITOR, ANALYST, OWNER, ADMIN)


@dataclass
class Alices:
    cart_id: UUID
    order_id: UUID


@pytest.fixture
def alices(settings: Settings) -> Alices:
    """Alice registered, with a cart and an order, both in the read models too."""
    identity = bootstrap.application(settings, "identity")
    carts = bootstrap.application(settings, "carts")
    orders = bootstrap.application(settings, "orders")
    assert isinstance(identity, IdentityApplication)
    assert isinstance(carts, CartsApplication)
    assert isinstance(orders, OrdersApplication)
    try:
        identity.register(
            ALICE, email="alice@example.org", password="alice's long password", display_name="Alice"
        )
        cart_id = carts.create_cart(ALICE, None).id
        carts.add_item(cart_id, "MUG-1", 1)
        line = OrderLine("MUG-1", 1, Money(990, "EUR"))
        order_id = orders.place_order(ALICE, cart_id, [line], None).id
    finally:
        for app in (identity, carts, orders):
            app.close()
    asyncio.run(rebuild(settings, CARTS))
    asyncio.run(rebuild(settings, ORDER_HISTORY))
    return Alices(cart_id, order_id)


@pytest.fixture
def clients(settings: Settings) -> Iterator[dict[str, tuple[FastAPI, TestClient]]]:
    # Limits are not under test here: hundreds of calls from one address must get through.
    yield from both_apis(without_rate_limits(settings))


def test_every_route_lets_in_exactly_who_it_should(
    settings: Settings, alices: Alices, clients: dict[str, tuple[FastAPI, TestClient]]
) -> None:
    values = {
        "cart_id": str(alices.cart_id),
        "order_id": str(alices.order_id),
        "customer_id": str(ALICE),
        "user_id": str(ALICE),
        "sku": "MUG-1",
        "role": "customer",
    }

    def headers_of(caller: Caller) -> dict[str, str]:
        # A token issued now: one the matrix revoked earlier (an erasure, a role removed)
        # ends at once (ADR 0033), and what comes after is about access, not revocation.
        return bearer(settings, caller.user_id, *caller.roles) if caller.user_id else {}

    violations: list[str] = []
    covered = 0
    for api, (app, client) in clients.items():
        for method, template, route in route_table(app):
            params = re.findall(r"{(\w+)(?::\w+)?}", template)
            path = template
            for name in params:
                value = values.get(name, str(uuid4()) if name.endswith("_id") else "X-1")
                path = re.sub(r"{" + name + r"(:\w+)?}", value, path)
            body = BODIES.get((method, template), {})
            policy = policy_of(route)
            covered += 1
            for caller in CALLERS:
                headers = headers_of(caller)
                response = client.request(method, path, json=body, headers=headers)
                expected = _expected(policy, caller, params, method)
                where = f"{api} {method} {template} as {caller.name} ({policy})"
                if response.status_code >= 500:
                    violations.append(f"{where}: {response.status_code}")
                elif not expected(response.status_code):
                    violations.append(f"{where}: {response.status_code} {response.text[:200]}")
                if caller is FOREIGN and response.status_code == 404:
                    _same_as_missing(
                        client,
                        method,
                        template,
                        params,
                        values,
                        body,
                        headers,
                        response,
                        violations,
                        where,
                    )
    assert covered >= 30, f"only {covered} routes found"
    assert not violations, "\n".join(violations)


def _expected(policy: str | None, caller: Caller, params: list[str], method: str) -> Any:
    if policy == "public":
        return lambda status: status != 403
    if caller is ANONYMOUS:
        return lambda status: status == 401
    if policy is None or policy.startswith("roles:"):
        allowed = set((policy or "roles:admin").removeprefix("roles:").split(","))
        if allowed & {r.value for r in caller.roles}:
            return lambda status: status not in (401, 403)
        return lambda status: status == 403
    # "authenticated": anyone signed in, but only on what they own.
    if caller in (OWNER, ADMIN):
        if method == "GET":  # reading what is yours always works
            return lambda status: status == 200
        return lambda status: status not in (401, 403)
    if any(p in OWNED for p in params):
        return lambda status: status == 404
    return lambda status: status in (403, 404)


def _same_as_missing(
    client: TestClient,
    method: str,
    template: str,
    params: list[str],
    values: dict[str, str],
    body: dict[str, Any],
    headers: dict[str, str],
    foreign: Any,
    violations: list[str],
    where: str,
) -> None:
    """Another customer's id must answer exactly as an id that does not exist."""
    owned = [p for p in params if p in OWNED]
    if not owned:
        return
    missing_id = str(uuid4())
    path = template
    for name in params:
        value = missing_id if name == owned[0] else values.get(name, "X-1")
        path = re.sub(r"{" + name + r"(:\w+)?}", value, path)
    missing = client.request(method, path, json=body, headers=headers)
    real_id = values[owned[0]]
    if (missing.status_code, missing.json().get("code")) != (404, foreign.json().get("code")) or (
        missing.json().get("detail", "").replace(missing_id, "ID")
        != foreign.json().get("detail", "").replace(real_id, "ID")
    ):
        violations.append(
            f"{where}: a foreign id answers unlike a missing one: "
            f"{foreign.text[:200]} vs {missing.text[:200]}"
        )


def test_a_router_that_declares_no_access_policy_is_closed_to_all_but_admins(
    settings: Settings,
) -> None:
    from fastapi import APIRouter

    from commands.http.app import create_command_api
    from infra.http import install_problem_handlers
    from tests.support.auth import with_access

    forgotten = APIRouter()

    @forgotten.post("/forgotten/{thing_id}")
    def forgotten_endpoint(thing_id: UUID) -> dict[str, str]:
        return {"thing": str(thing_id)}

    api = with_access(create_command_api([forgotten], readiness=lambda: None), settings)
    install_problem_handlers(api)
    with TestClient(api) as client:
        path = f"/forgotten/{uuid4()}"
        statuses = {
            caller.name: client.post(
                path,
                headers=bearer(settings, caller.user_id, *caller.roles) if caller.user_id else {},
            ).status_code
            for caller in CALLERS
        }
    assert statuses == {
        "anonymous": 401,
        "another customer": 403,
        "auditor": 403,
        "analyst": 403,
        "owner": 403,
        "admin": 200,
    }
