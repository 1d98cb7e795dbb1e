"""Signing in through the real command API: login, the stored password hash, rotating refresh
tokens and their reuse, logout, role changes at the next refresh, and an erasure ending the
user's sessions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient

from domain.identity import Role
from infra import apps, bootstrap
from infra.settings import Settings
from security.refresh import RefreshTokenStore
from security.tokens import TokenUse
from tests.support.auth import as_admin, as_customer
from tests.support.sign_in import PASSWORD, audit_rows, login, register

pytestmark = pytest.mark.integration


@pytest.fixture
def command(settings: Settings) -> Iterator[TestClient]:
    with TestClient(apps.command_api(settings)) as client:
        yield client


def profile(client: TestClient, user_id: str, token: str) -> Any:
    return client.put(
        f"/users/{user_id}/profile",
        json={"display_name": "Renamed"},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_registered_user_logs_in_and_acts_with_the_access_token(command: TestClient) -> None:
    user_id = register(command, "ada@example.org")

    response = login(command, " ADA@example.org ")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    assert profile(command, user_id, body["access_token"]).status_code == 200
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert (claims["sub"], claims["roles"]) == (user_id, ["customer"])


def test_the_password_is_stored_only_as_an_argon2id_hash(
    command: TestClient, settings: Settings
) -> None:
    user_id = register(command, "hash@example.org")
    with psycopg.connect(settings.database_url) as conn:
        stored = conn.execute(
            f'SELECT password_hash FROM "{settings.schema_for("identity")}".user_credentials'
            " WHERE user_id = %s",
            (user_id,),
        ).fetchone()
        events = conn.execute(
            f'SELECT state FROM "{settings.schema_for("identity")}".{events_table(settings)}'
        ).fetchall()
    assert stored is not None
    assert stored[0].startswith("$argon2id$")
    memory = int(stored[0].split("m=")[1].split(",")[0])
    assert memory >= 19 * 1024  # OWASP's minimum: 19 MiB
    assert all(PASSWORD.encode() not in bytes(row[0]) for row in events)
    assert all(b"argon2" not in bytes(row[0]) for row in events)


def events_table(settings: Settings) -> str:
    identity = bootstrap.application(settings, "identity")
    try:
        return str(identity.recorder.events_table_name)  # type: ignore[attr-defined]
    finally:
        identity.close()


def test_a_wrong_password_and_an_unknown_address_get_the_same_401(command: TestClient) -> None:
    register(command, "grace@example.org")

    wrong = login(command, "grace@example.org", "not the password at all")
    unknown = login(command, "nobody@example.org")

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_refresh_rotates_and_a_replayed_token_revokes_the_family(
    command: TestClient, settings: Settings
) -> None:
    user_id = register(command, "rot@example.org")
    first = login(command, "rot@example.org").json()

    second = command.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert profile(command, user_id, rotated["access_token"]).status_code == 200

    replay = command.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    # The thief's replay ended the session: the legitimate newest token is dead too.
    after = command.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401
    family = bootstrap.token_service(settings).verify(rotated["refresh_token"], TokenUse.REFRESH)
    assert family.family_id is not None
    assert store_of(settings).family_revoked(family.family_id)
    audited = audit_rows(settings, "auth.refresh_token_reused")
    assert [row["target"] for row in audited] == [f"user:{user_id}"]


def test_logout_revokes_the_session(command: TestClient) -> None:
    register(command, "out@example.org")
    tokens = login(command, "out@example.org").json()

    out = command.post("/auth/logout", json={"refresh_token": tokens["refresh_token"]})

    assert out.status_code == 204
    again = command.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401


def test_a_role_change_reaches_tokens_at_the_next_refresh(
    command: TestClient, settings: Settings
) -> None:
    user_id = register(command, "promo@example.org")
    tokens = login(command, "promo@example.org").json()
    granted = command.post(
        f"/users/{user_id}/roles", json={"role": "analyst"}, headers=as_admin(settings)
    )
    assert granted.status_code == 200

    refreshed = command.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    roles = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert roles["roles"] == ["analyst", "customer"]


def test_an_access_token_is_no_refresh_token(command: TestClient, settings: Settings) -> None:
    access = bootstrap.token_service(settings).access_token(uuid4(), frozenset({Role.ADMIN}))

    response = command.post("/auth/refresh", json={"refresh_token": access.token})

    assert response.status_code == 401


def store_of(settings: Settings) -> RefreshTokenStore:
    return bootstrap.refresh_tokens(settings)


def test_an_erasure_is_the_users_own_or_an_admins_audited_and_ends_their_sessions(
    command: TestClient, settings: Settings
) -> None:
    user_id = register(command, "forget.me@example.org")
    tokens = login(command, "forget.me@example.org").json()
    stranger = command.post(f"/users/{user_id}/erase", headers=as_customer(settings, uuid4()))

    erased = command.post(f"/users/{user_id}/erase", headers=as_customer(settings, UUID(user_id)))

    assert (stranger.status_code, erased.status_code) == (404, 200)
    refreshed = command.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    assert login(command, "forget.me@example.org").status_code == 401
    (row,) = audit_rows(settings, "identity.erased")
    assert (row["actor"], row["target"]) == (f"user:{user_id}", f"user:{user_id}")
