"""Who may do what through the real APIs: every kind of forged token is a 401 on both, and a
customer acts on their own cart only, with no say over prices, roles or others' carts."""

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
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from infra import apps, bootstrap
from infra.settings import Settings
from tests.support.auth import as_customer
from tests.support.catalog import a_product, add_products

pytestmark = pytest.mark.integration


@pytest.fixture
def command(settings: Settings) -> Iterator[TestClient]:
    with TestClient(apps.command_api(settings)) as client:
        yield client


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
