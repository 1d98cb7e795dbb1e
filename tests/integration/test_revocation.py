"""Revocations take effect at once (issue 14, point 7 and 2; ADR 0033): after an erasure, a
role removal or a logout, an access token issued before it is refused by both APIs, while
a token issued after it works; repeating an erased user's registration is a 4xx."""

from __future__ import annotations

import socket
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from redis import Redis

from domain.identity import Role
from infra import apps
from infra.settings import Settings
from security.not_before import redis_key
from tests.support.apis import api_fixture
from tests.support.auth import as_admin

pytestmark = pytest.mark.integration

PASSWORD = "a long passphrase nobody guesses"


command = api_fixture("command", as_a_server=True)
read = api_fixture("read", as_a_server=True)


def _register(command: TestClient, key: str | None = None) -> tuple[str, str]:
    email = f"u{uuid4().hex[:10]}@example.org"
    headers = {"Idempotency-Key": key} if key else {}
    body = {"email": email, "password": PASSWORD, "display_name": "Someone"}
    response = command.post("/users", json=body, headers=headers)
    assert response.status_code == 201, response.json()
    return str(response.json()["id"]), email


def _login(command: TestClient, email: str) -> dict[str, Any]:
    response = command.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.json()
    body: dict[str, Any] = response.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _opens_a_cart(command: TestClient, user_id: str, token: str) -> int:
    response = command.post("/carts", json={"customer_id": user_id}, headers=_bearer(token))
    return int(response.status_code)


def _reads_its_orders(read: TestClient, user_id: str, token: str) -> int:
    return int(read.get(f"/customers/{user_id}/orders", headers=_bearer(token)).status_code)


def test_an_erased_users_access_token_is_refused_at_once_by_both_apis(
    command: TestClient, read: TestClient
) -> None:
    user_id, email = _register(command)
    token = _login(command, email)["access_token"]
    assert _opens_a_cart(command, user_id, token) == 201
    assert _reads_its_orders(read, user_id, token) == 200

    erased = command.post(f"/users/{user_id}/erase", headers=_bearer(token))
    assert erased.status_code == 200, erased.json()

    refused = command.post("/carts", json={"customer_id": user_id}, headers=_bearer(token))
    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"
    assert _reads_its_orders(read, user_id, token) == 401


def test_a_removed_role_ends_the_access_tokens_that_carry_it(
    command: TestClient, read: TestClient, settings: Settings
) -> None:
    user_id, email = _register(command)
    granted = command.post(
        f"/users/{user_id}/roles", json={"role": "analyst"}, headers=as_admin(settings)
    )
    assert granted.status_code == 200, granted.json()
    token = _login(command, email)["access_token"]
    assert read.get("/analytics", headers=_bearer(token)).status_code == 200

    removed = command.delete(f"/users/{user_id}/roles/analyst", headers=as_admin(settings))
    assert removed.status_code == 200, removed.json()

    assert read.get("/analytics", headers=_bearer(token)).status_code == 401
    assert _opens_a_cart(command, user_id, token) == 401
    fresh = _login(command, email)  # signing in again gives the roles the user has now
    assert fresh["roles"] == [Role.CUSTOMER.value]
    assert _opens_a_cart(command, user_id, fresh["access_token"]) == 201
    assert read.get("/analytics", headers=_bearer(fresh["access_token"])).status_code == 403


def test_logout_ends_the_access_token_at_once_and_signing_in_again_works(
    command: TestClient, read: TestClient
) -> None:
    user_id, email = _register(command)
    session = _login(command, email)
    token = session["access_token"]
    assert _reads_its_orders(read, user_id, token) == 200

    out = command.post("/auth/logout", json={"refresh_token": session["refresh_token"]})
    assert out.status_code == 204

    assert _opens_a_cart(command, user_id, token) == 401
    assert _reads_its_orders(read, user_id, token) == 401
    again = _login(command, email)["access_token"]
    assert _opens_a_cart(command, user_id, again) == 201
    assert _reads_its_orders(read, user_id, again) == 200


def test_a_revocation_survives_a_wiped_redis_and_a_redis_that_does_not_answer(
    settings: Settings,
) -> None:
    with TestClient(apps.command_api(settings)) as command:
        user_id, email = _register(command)
        token = _login(command, email)["access_token"]
        assert command.post(f"/users/{user_id}/erase", headers=_bearer(token)).status_code == 200
    redis = Redis.from_url(settings.redis_url)
    assert redis.delete(redis_key(settings.namespace, UUID(user_id))) == 1  # Redis wiped
    with TestClient(apps.read_api(settings)) as read:  # a restart copies the record back
        assert _reads_its_orders(read, user_id, token) == 401
    assert redis.exists(redis_key(settings.namespace, UUID(user_id))) == 1
    redis.close()

    with socket.socket() as closed:  # a Redis address nobody answers on
        closed.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
        no_redis = settings.model_copy(update={"redis_url": dead})
        with TestClient(apps.read_api(no_redis), raise_server_exceptions=False) as read:
            assert _reads_its_orders(read, user_id, token) == 401  # the durable record says


def test_repeating_an_erased_users_registration_is_a_409_not_a_500(command: TestClient) -> None:
    key = f"register-{uuid4()}"
    user_id, email = _register(command, key)
    token = _login(command, email)["access_token"]
    assert command.post(f"/users/{user_id}/erase", headers=_bearer(token)).status_code == 200

    for email_again in (email, f"other{uuid4().hex[:8]}@example.org"):
        repeat = command.post(
            "/users",
            json={"email": email_again, "password": PASSWORD, "display_name": "Someone"},
            headers={"Idempotency-Key": key},
        )
        assert repeat.status_code == 409, repeat.text
        assert repeat.headers["content-type"] == "application/problem+json"
        assert repeat.json()["code"] == "registration_erased"
    # A new key registers the address again.
    fresh = command.post(
        "/users",
        json={"email": email, "password": PASSWORD, "display_name": "Someone"},
        headers={"Idempotency-Key": f"register-{uuid4()}"},
    )
    assert fresh.status_code == 201, fresh.json()
