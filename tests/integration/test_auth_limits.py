"""The APIs' limits: login, registration and request rates per address and per user (with
Retry-After), the body size, and the time a request may take."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from infra import apps
from infra.provision import provision
from infra.settings import Settings
from tests.support.auth import as_customer
from tests.support.sign_in import PASSWORD, login, register

pytestmark = pytest.mark.integration


@pytest.fixture
def command(settings: Settings) -> Iterator[TestClient]:
    with TestClient(apps.command_api(settings)) as client:
        yield client


def test_logins_are_rate_limited_per_address_with_retry_after(stack: Settings) -> None:
    settings = strict(stack, login_burst=3, login_rate_per_minute=1)
    with TestClient(apps.command_api(settings)) as client:
        answers = [login(client, f"guess{i}@example.org").status_code for i in range(5)]
        limited = login(client, "guess9@example.org")
    assert answers[:3] == [401, 401, 401]
    assert answers[3:] == [429, 429]
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


def test_failing_logins_for_someone_elses_email_do_not_lock_its_owner_out(
    stack: Settings,
) -> None:
    settings = strict(stack)
    email = f"victim-{uuid4().hex[:8]}@example.org"
    with TestClient(apps.command_api(settings), client=("198.51.100.7", 4000)) as attacker:
        register(attacker, email)
        tries = [login(attacker, email, "wrong password").status_code for _ in range(7)]
    with TestClient(apps.command_api(settings), client=("192.0.2.10", 5000)) as owner:
        answer = login(owner, email)
    assert 429 in tries
    assert answer.status_code == 200, answer.json()


def test_registrations_have_a_limit_of_their_own(stack: Settings) -> None:
    settings = strict(stack, registration_burst=3, registration_rate_per_minute=1)
    with TestClient(apps.command_api(settings)) as client:
        statuses = [
            client.post(
                "/users",
                json={
                    "email": f"r{uuid4().hex[:8]}@example.org",
                    "password": PASSWORD,
                    "display_name": "Someone",
                },
            ).status_code
            for _ in range(5)
        ]
    assert statuses == [201, 201, 201, 429, 429]


def test_one_address_is_limited_per_address_and_per_user(stack: Settings) -> None:
    settings = strict(stack, burst_per_address=100, burst_per_user=4, rate_per_user=0.1)
    user, other = uuid4(), uuid4()
    with TestClient(apps.read_api(settings)) as client:
        statuses = [
            client.get(f"/customers/{user}/orders", headers=as_customer(settings, user)).status_code
            for _ in range(6)
        ]
        others = client.get(f"/customers/{other}/orders", headers=as_customer(settings, other))
    assert statuses == [200, 200, 200, 200, 429, 429]
    assert others.status_code == 200  # another user's bucket is full

    settings = strict(stack, burst_per_address=3, rate_per_address=0.1)
    with TestClient(apps.read_api(settings)) as client:
        public = [client.get("/products/search").status_code for _ in range(5)]
    assert public[3:] == [429, 429]


def strict(stack: Settings, **limits: Any) -> Settings:
    """Test settings (own namespace, provisioned) with the given limits."""
    settings = stack.model_copy(update={"namespace": f"t{uuid4().hex[:12]}", **limits})
    provision(settings)
    return settings


def test_bodies_over_the_limit_are_413_before_anything_else(
    command: TestClient, read: TestClient, settings: Settings
) -> None:
    big = b"{" + b" " * (settings.max_body_bytes + 1) + b"}"
    for response in (
        command.post("/users", content=big, headers={"content-type": "application/json"}),
        command.post("/auth/login", content=big, headers={"content-type": "application/json"}),
        read.post("/products/search", content=big),
    ):
        assert response.status_code == 413
        assert response.json()["code"] == "body_too_large"


def test_a_request_over_its_time_is_a_503_problem(stack: Settings) -> None:
    settings = strict(stack, request_timeout_seconds=0.2)
    with TestClient(apps.read_api(settings)) as client:
        # Waiting for a position nobody reaches takes the read API's full 2 s bound.
        response = client.get("/products/search", params={"after": 10**12})
    assert response.status_code == 503
    assert response.json()["code"] == "request_timeout"
    assert response.headers["retry-after"] == "1"
