"""Signing in through the real APIs: login, rotating refresh tokens, logout, forged tokens,
rate limits, body size and timeouts, and the audit log of privileged actions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from psycopg.rows import dict_row
from typer.testing import CliRunner

from domain.identity import Role
from infra import apps, bootstrap
from infra.cli import cli
from infra.platform import service_env
from infra.provision import provision
from infra.settings import Settings
from security.refresh import RefreshTokenStore
from security.tokens import TokenUse
from tests.support.auth import as_admin, as_customer, bearer
from tests.support.catalog import a_product, add_products

pytestmark = pytest.mark.integration

PASSWORD = "a long passphrase nobody guesses"


@pytest.fixture
def command(settings: Settings) -> Iterator[TestClient]:
    with TestClient(apps.command_api(settings)) as client:
        yield client


def register(client: TestClient, email: str, password: str = PASSWORD) -> str:
    response = client.post(
        "/users", json={"email": email, "password": password, "display_name": "Someone"}
    )
    assert response.status_code == 201, response.json()
    user_id: str = response.json()["id"]
    return user_id


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/auth/login", json={"email": email, "password": password})


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


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens(settings: Settings, user_id: UUID) -> dict[str, str]:
    """Every forgery the issue lists, each claiming to be an admin."""
    service = bootstrap.token_service(settings)
    kid = service.keys.signing_kid
    assert service.keys.signing_key is not None
    now = int(time.time())
    good = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": str(user_id),
        "iat": now,
        "exp": now + 600,
        "jti": "x" * 43,
        "token_use": "access",
        "roles": ["admin"],
    }
    header = {"kid": kid, "typ": "at+jwt"}
    key = service.keys.signing_key
    public_pem = service.keys.public[str(kid)].public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_input = f"{b64({'alg': 'HS256', **header})}.{b64(good)}"
    hs_mac = hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest()
    return {
        "alg none": f"{b64({'alg': 'none', **header})}.{b64(good)}.",
        "HS256 with the public key": f"{hs_input}."
        + base64.urlsafe_b64encode(hs_mac).rstrip(b"=").decode(),
        "expired": jwt.encode({**good, "exp": now - 60}, key, "EdDSA", header),
        "wrong audience": jwt.encode({**good, "aud": "urn:other"}, key, "EdDSA", header),
        "wrong issuer": jwt.encode({**good, "iss": "urn:other"}, key, "EdDSA", header),
        "forged kid": jwt.encode(
            good, Ed25519PrivateKey.generate(), "EdDSA", {"kid": "attacker", "typ": "at+jwt"}
        ),
        "our kid, another key": jwt.encode(good, Ed25519PrivateKey.generate(), "EdDSA", header),
        "refresh token as access": service.refresh_token(user_id, uuid4()).token,
    }


@pytest.mark.parametrize(
    "attack",
    [
        "alg none",
        "HS256 with the public key",
        "expired",
        "wrong audience",
        "wrong issuer",
        "forged kid",
        "our kid, another key",
        "refresh token as access",
    ],
)
def test_forged_tokens_are_401_on_both_apis(
    command: TestClient, read: TestClient, settings: Settings, attack: str
) -> None:
    user_id = uuid4()
    token = forged_tokens(settings, user_id)[attack]
    headers = {"Authorization": f"Bearer {token}"}

    on_command = command.post("/products/" + str(uuid4()) + "/reinstate", headers=headers)
    on_read = read.get("/projections", headers=headers)
    own_profile = command.put(
        f"/users/{user_id}/profile", json={"display_name": "x"}, headers=headers
    )

    for response in (on_command, on_read, own_profile):
        assert response.status_code == 401, (attack, response.json())
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"


def test_an_access_token_is_no_refresh_token(command: TestClient, settings: Settings) -> None:
    access = bootstrap.token_service(settings).access_token(uuid4(), frozenset({Role.ADMIN}))

    response = command.post("/auth/refresh", json={"refresh_token": access.token})

    assert response.status_code == 401


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


def test_privileged_actions_are_audited_and_only_auditors_read_them(
    command: TestClient, read: TestClient, settings: Settings
) -> None:
    user_id = register(command, "audited@example.org")
    admin_id = uuid4()
    admin = bearer(settings, admin_id, Role.ADMIN)
    command.post(
        f"/users/{user_id}/roles",
        json={"role": "auditor"},
        headers={**admin, "X-Correlation-Id": "grant-42"},
    )
    command.delete(f"/users/{user_id}/roles/auditor", headers=admin)

    as_auditor = read.get("/audit-log", headers=bearer(settings, uuid4(), Role.AUDITOR))
    as_admin_too = read.get("/audit-log", headers=admin)
    as_self = read.get("/audit-log", headers=as_customer(settings, UUID(user_id)))

    assert (as_admin_too.status_code, as_self.status_code) == (403, 403)
    assert as_auditor.status_code == 200
    items = as_auditor.json()["items"]
    assert [(i["action"], i["actor"], i["target"]) for i in items] == [
        ("identity.role_revoked", f"user:{admin_id}", f"user:{user_id}"),
        ("identity.role_assigned", f"user:{admin_id}", f"user:{user_id}"),
    ]
    assert items[1]["correlation_id"] == "grant-42"
    assert items[1]["detail"] == {"role": "auditor", "version": 2}


def test_the_audit_log_cannot_be_changed_or_emptied(
    command: TestClient, settings: Settings
) -> None:
    bootstrap.audit_log(settings).record("user:x", "test.action", "t", None)
    table = f'"{settings.schema_for("security")}".audit_log'
    for statement in (
        f"UPDATE {table} SET actor = 'me'",
        f"DELETE FROM {table}",
        f"TRUNCATE {table}",
    ):
        with psycopg.connect(settings.database_url) as conn, pytest.raises(psycopg.Error):
            conn.execute(statement)
    assert len(audit_rows(settings, "test.action")) == 1


def test_a_rebuild_from_the_cli_is_audited(settings: Settings) -> None:
    env = {k: v for k, v in service_env(settings).items() if k.startswith("SHOP_")}
    result = CliRunner().invoke(cli, ["projections", "rebuild", "carts"], env=env)

    assert result.exit_code == 0, result.output
    rows = audit_rows(settings, "projections.rebuild")
    assert [r["detail"]["status"] for r in rows] == ["started", "done"]
    assert {r["target"] for r in rows} == {"carts"}
    assert rows[0]["correlation_id"] == rows[1]["correlation_id"]
    assert rows[0]["actor"].startswith("operator:")


def audit_rows(settings: Settings, action: str) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            f'SELECT * FROM "{settings.schema_for("security")}".audit_log'
            " WHERE action = %s ORDER BY id",
            (action,),
        ).fetchall()


def store_of(settings: Settings) -> RefreshTokenStore:
    return bootstrap.refresh_tokens(settings)


def test_a_customer_uses_their_own_cart_and_cannot_set_what_they_do_not_own(
    command: TestClient, settings: Settings
) -> None:
    alice, bob = uuid4(), uuid4()
    as_alice, as_bob = as_customer(settings, alice), as_customer(settings, bob)
    add_products(settings, [a_product("MUG-1")])

    cart = command.post("/carts", json={"customer_id": str(alice)}, headers=as_alice)
    for_bob = command.post("/carts", json={"customer_id": str(bob)}, headers=as_alice)
    cart_id = cart.json()["id"]
    added = command.post(
        f"/carts/{cart_id}/items", json={"sku": "MUG-1", "quantity": 2}, headers=as_alice
    )
    priced = command.post(
        f"/carts/{cart_id}/items",
        json={"sku": "MUG-2", "quantity": 1, "unit_price": {"amount": "0.01", "currency": "EUR"}},
        headers=as_alice,
    )
    bobs_try = command.post(
        f"/carts/{cart_id}/items", json={"sku": "MUG-1", "quantity": 1}, headers=as_bob
    )
    own_roles = command.put(
        f"/users/{alice}/profile", json={"display_name": "A", "roles": ["admin"]}, headers=as_alice
    )
    grant = command.post(f"/users/{alice}/roles", json={"role": "admin"}, headers=as_alice)
    place = command.post(
        "/orders",
        json={
            "customer_id": str(alice),
            "cart_id": cart_id,
            "lines": [
                {"sku": "MUG-1", "quantity": 2, "unit_price": {"amount": "0.01", "currency": "EUR"}}
            ],
        },
        headers=as_alice,
    )

    assert (cart.status_code, added.status_code, added.json()["version"]) == (201, 200, 2)
    assert for_bob.status_code == 403
    assert (priced.status_code, priced.json()["errors"][0]["field"]) == (
        422,
        "body.unit_price",
    )
    assert (bobs_try.status_code, bobs_try.json()["detail"]) == (
        404,
        f"cart {cart_id} does not exist",
    )
    assert own_roles.status_code == 422
    assert (grant.status_code, place.status_code) == (403, 403)


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
