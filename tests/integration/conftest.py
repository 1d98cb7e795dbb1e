"""Fixtures the integration tests share: each context's application and the two APIs in
process, all on the test's own namespace (``settings``)."""

from __future__ import annotations

from commands.carts.application import CartsApplication
from commands.catalog.application import CatalogApplication
from commands.identity.application import IdentityApplication
from commands.inventory.application import InventoryApplication
from commands.orders.application import OrdersApplication
from commands.payments.application import PaymentsApplication
from tests.support.apis import api_fixture
from tests.support.applications import application_fixture

client = api_fixture("command", admin=True)
read = api_fixture("read")  # tests add their own credentials

carts = application_fixture("carts", CartsApplication)
catalog = application_fixture("catalog", CatalogApplication)
identity = application_fixture("identity", IdentityApplication)
inventory = application_fixture("inventory", InventoryApplication)
orders = application_fixture("orders", OrdersApplication)
payments = application_fixture("payments", PaymentsApplication)
