"""Problem bodies a person can read: titles from the error code, field names that are field
names, lengths in characters, an expired token said so, one 404 code and body (issue 15)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any
from uuid import uuid4

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, SecretStr

from domain.errors import NotFound
from infra.http import install_problem_handlers, title_for
from security.access import Access, CurrentUser
from security.keys import ensure_development_key, load_key_set
from security.tokens import TokenService


class LineNotFound(NotFound):
    code = "cart_line_not_found"


class Register(BaseModel):
    name: str
    password: Annotated[SecretStr, Field(min_length=12)]


@pytest.fixture
def tokens(tmp_path: Path) -> TokenService:
    ensure_development_key(tmp_path / "keys")
    return TokenService(load_key_set(tmp_path / "keys"), "urn:shop:identity", "urn:shop:api")


@pytest.fixture
def client(tokens: TokenService) -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.access = Access(tokens)

    @app.delete("/carts/{cart}/items/{sku}")
    def remove(cart: str, sku: str) -> None:
        raise LineNotFound(f"cart {cart} has no line {sku}")

    @app.post("/users")
    def register(body: Register) -> dict[str, Any]:
        return {"name": body.name}

    @app.get("/me")
    def me(principal: CurrentUser) -> dict[str, str]:
        return {"id": str(principal.user_id)}

    return TestClient(app)


def test_a_title_is_derived_from_the_code_not_the_class_name(client: TestClient) -> None:
    body = client.delete("/carts/c1/items/MUG-1").json()
    assert (body["title"], body["code"]) == ("Cart line not found", "cart_line_not_found")
    assert title_for("payment_method_already_given") == "Payment method already given"


def test_malformed_json_names_the_body_not_a_character_offset(client: TestClient) -> None:
    response = client.post(
        "/users",
        content=b'{"name": "Ada", "password": }',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "body"
    assert error["message"].startswith("the body is not valid JSON")


def test_a_short_password_is_counted_in_characters(client: TestClient) -> None:
    response = client.post("/users", json={"name": "Ada", "password": "hunter2"})
    (error,) = response.json()["errors"]
    assert (error["field"], error["message"]) == (
        "body.password",
        "must have at least 12 characters",
    )


def test_an_expired_token_says_it_has_expired(client: TestClient, tokens: TokenService) -> None:
    assert tokens.keys.signing_key is not None
    now = int(time.time())
    expired = jwt.encode(
        {
            "iss": "urn:shop:identity",
            "aud": "urn:shop:api",
            "sub": str(uuid4()),
            "iat": now - 3600,
            "exp": now - 1800,
            "jti": "j" * 40,
            "token_use": "access",
            "roles": ["customer"],
        },
        tokens.keys.signing_key,
        algorithm="EdDSA",
        headers={"kid": tokens.keys.signing_kid, "typ": "at+jwt"},
    )
    response = client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json()["detail"].startswith("the access token has expired")


def test_an_unknown_route_is_the_not_found_problem_of_both_apis(client: TestClient) -> None:
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["title"]) == ("not_found", "Not found")
    assert body["detail"] == "there is no GET /no/such/thing here (see /docs)"


def test_a_404_of_a_read_model_behind_the_write_says_so_and_suggests_after() -> None:
    from read_api.consistency import Consistency

    behind = Consistency(after=42, applied=40, stale=True).missing("cart c1")
    assert behind == (
        "cart c1 is not in the read model yet: it has applied position 40, not yet 42; "
        "retry with after=42"
    )
    assert "pass after=" in Consistency(None, 40, stale=False).missing("cart c1")
    assert Consistency(40, 40, stale=False).missing("cart c1") == "cart c1 is not in the read model"
