"""Fixtures the integration tests share: each context's application and the two APIs in
process, all on the test's own namespace (``settings``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from commands.carts.application import CartsApplication
from commands.catalog.application import CatalogApplication
from commands.identity.application import IdentityApplication
from commands.inventory.application import InventoryApplication
from commands.orders.application import OrdersApplication
from commands.payments.application import PaymentsApplication
from infra import apps
from infra.settings import Settings
from tests.support.applications import opened
from tests.support.auth import as_admin


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The command API in process, called as an admin."""
    with TestClient(apps.command_api(settings), headers=as_admin(settings)) as test_client:
        yield test_client


@pytest.fixture
def read(settings: Settings) -> Iterator[TestClient]:
    """The read API in process, called anonymously (tests add their own credentials)."""
    with TestClient(apps.read_api(settings)) as test_client:
        yield test_client


@pytest.fixture
def carts(settings: Settings) -> Iterator[CartsApplication]:
    yield from opened(settings, "carts", CartsApplication)


@pytest.fixture
def catalog(settings: Settings) -> Iterator[CatalogApplication]:
    yield from opened(settings, "catalog", CatalogApplication)


@pytest.fixture
def identity(settings: Settings) -> Iterator[IdentityApplication]:
    yield from opened(settings, "identity", IdentityApplication)


@pytest.fixture
def inventory(settings: Settings) -> Iterator[InventoryApplication]:
    yield from opened(settings, "inventory", InventoryApplication)


@pytest.fixture
def orders(settings: Settings) -> Iterator[OrdersApplication]:
    yield from opened(settings, "orders", OrdersApplication)


@pytest.fixture
def payments(settings: Settings) -> Iterator[PaymentsApplication]:
    yield from opened(settings, "payments", PaymentsApplication)
