"""The auditors' CLI in process, and a small interleaved order history to audit."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

from typer.testing import CliRunner

from commands.identity.application import IdentityApplication
from commands.orders.application import OrdersApplication
from infra.cli import cli
from infra.platform import service_env
from infra.settings import Settings
from tests.support.orders import place

ALICE = UUID("2f0c7c1e-4f7b-4c33-9d55-1b1f2f0d9a01")


def shop(settings: Settings, *args: str) -> Any:
    """Run a `shop` command in this process, with this test's settings in the environment."""
    return CliRunner().invoke(cli, list(args), env=service_env(settings))


def verify_json(settings: Settings, *args: str) -> tuple[int, dict[str, Any]]:
    result = shop(settings, "audit", "verify", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def a_history(orders: OrdersApplication) -> list[UUID]:
    """Three orders, interleaved in the log: positions 1..9."""
    first, second, third = (place(orders, ALICE).id for _ in range(3))
    orders.mark_stock_reserved(first)
    orders.mark_stock_reserved(second)
    orders.mark_stock_reserved(third)
    orders.cancel(second, "changed my mind")
    orders.mark_payment_authorized(first, uuid4())
    orders.confirm(first)
    return [first, second, third]


def a_user(identity: IdentityApplication, email: str, display_name: str) -> UUID:
    """A user registered straight through the identity application: personal data that
    replay must withhold and erasure must shred."""
    return identity.register(
        uuid4(), email=email, password="correct horse battery staple", display_name=display_name
    ).id
