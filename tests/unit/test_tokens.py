"""Token verification refuses every forgery RFC 8725 warns about, and each token type is
accepted only where it belongs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.identity import Role
from security.keys import KeysMissing, ensure_development_key, load_key_set
from security.tokens import LEEWAY_SECONDS, TokenExpired, TokenRejected, TokenService, TokenUse

ISSUER, AUDIENCE = "urn:shop:identity", "urn:shop:api"


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    ensure_development_key(tmp_path / "keys")
    return tmp_path / "keys"


@pytest.fixture
def tokens(keys_dir: Path) -> TokenService:
    return TokenService(load_key_set(keys_dir), ISSUER, AUDIENCE)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid4()),
        "iat": now,
        "exp": now + 600,
        "jti": "j" * 40,
        "token_use": "access",
        "roles": ["admin"],
        **overrides,
    }


def signed(tokens: TokenService, body: dict[str, object], **header: object) -> str:
    assert tokens.keys.signing_key is not None
    headers = {"kid": tokens.keys.signing_kid, "typ": "at+jwt", **header}
    return jwt.encode(body, tokens.keys.signing_key, algorithm="EdDSA", headers=headers)


def test_an_access_token_carries_its_user_and_roles(tokens: TokenService) -> None:
    user = uuid4()
    issued = tokens.access_token(user, frozenset({Role.CUSTOMER, Role.ANALYST}))

    verified = tokens.verify(issued.token, TokenUse.ACCESS)

    assert (verified.user_id, verified.roles) == (user, frozenset({Role.CUSTOMER, Role.ANALYST}))
    assert issued.expires_at - time.time() <= 15 * 60
    assert jwt.get_unverified_header(issued.token)["alg"] == "EdDSA"


def test_alg_none_is_refused(tokens: TokenService) -> None:
    header = b64(
        json.dumps({"alg": "none", "typ": "at+jwt", "kid": tokens.keys.signing_kid}).encode()
    )
    unsigned = f"{header}.{b64(json.dumps(claims()).encode())}."

    with pytest.raises(TokenRejected):
        tokens.verify(unsigned, TokenUse.ACCESS)


def test_hs256_signed_with_the_public_key_is_refused(tokens: TokenService) -> None:
    public_pem = tokens.keys.public[str(tokens.keys.signing_kid)].public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": tokens.keys.signing_kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"

    with pytest.raises(TokenRejected):
        tokens.verify(forged, TokenUse.ACCESS)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": int(time.time()) - 60}, id="expired"),  # beyond the leeway
        pytest.param({"aud": "urn:someone:else"}, id="wrong-audience"),
        pytest.param({"iss": "urn:someone:else"}, id="wrong-issuer"),
        # body says refresh, header says access
        pytest.param({"token_use": "refresh"}, id="mixed-type"),
        # lifetimes that are no whole number of seconds, too long, or not begun yet
        pytest.param({"exp": str(int(time.time()) + 600)}, id="string-exp"),
        pytest.param({"exp": float(int(time.time()) + 600) + 0.5}, id="float-exp"),
        pytest.param({"exp": int(time.time()) + 10 * 365 * 24 * 3600}, id="lives-for-years"),
        pytest.param(
            {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 3900},
            id="issued-in-the-future",
        ),
    ],
)
def test_expired_foreign_mistyped_and_ill_timed_tokens_are_refused(
    tokens: TokenService, overrides: dict[str, object]
) -> None:
    with pytest.raises(TokenRejected):
        tokens.verify(signed(tokens, claims(**overrides)), TokenUse.ACCESS)


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub", "jti"])
def test_a_token_missing_a_required_claim_is_refused(tokens: TokenService, missing: str) -> None:
    body = claims()
    del body[missing]
    with pytest.raises(TokenRejected):
        tokens.verify(signed(tokens, body), TokenUse.ACCESS)


def test_a_forged_kid_is_refused(tokens: TokenService) -> None:
    attacker = Ed25519PrivateKey.generate()
    for kid in (tokens.keys.signing_kid, "attacker", "../../etc/passwd"):
        forged = jwt.encode(
            claims(), attacker, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"}
        )
        with pytest.raises(TokenRejected):
            tokens.verify(forged, TokenUse.ACCESS)


def test_a_refresh_token_is_no_access_token_and_the_reverse(tokens: TokenService) -> None:
    refresh = tokens.refresh_token(uuid4(), uuid4()).token
    access = tokens.access_token(uuid4(), frozenset({Role.ADMIN})).token

    with pytest.raises(TokenRejected):
        tokens.verify(refresh, TokenUse.ACCESS)
    with pytest.raises(TokenRejected):
        tokens.verify(access, TokenUse.REFRESH)
    assert tokens.verify(refresh, TokenUse.REFRESH).family_id is not None


def test_a_tampered_payload_is_refused(tokens: TokenService) -> None:
    header, _, signature = tokens.access_token(uuid4(), frozenset({Role.CUSTOMER})).token.split(".")
    payload = b64(json.dumps(claims(roles=["admin"])).encode())

    with pytest.raises(TokenRejected):
        tokens.verify(f"{header}.{payload}.{signature}", TokenUse.ACCESS)


def test_keys_rotate_old_tokens_verify_until_their_key_is_removed(keys_dir: Path) -> None:
    before = TokenService(load_key_set(keys_dir), ISSUER, AUDIENCE)
    old_token = before.access_token(uuid4(), frozenset({Role.CUSTOMER})).token
    old_kid = before.keys.signing_kid
    new_key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (keys_dir / "zz-next.pem").write_bytes(new_key)

    after = TokenService(load_key_set(keys_dir), ISSUER, AUDIENCE)
    new_token = after.access_token(uuid4(), frozenset({Role.CUSTOMER})).token

    assert jwt.get_unverified_header(new_token)["kid"] == "zz-next"
    after.verify(old_token, TokenUse.ACCESS)
    (keys_dir / f"{old_kid}.pem").unlink()
    retired = TokenService(load_key_set(keys_dir), ISSUER, AUDIENCE)
    retired.verify(new_token, TokenUse.ACCESS)
    with pytest.raises(TokenRejected):
        retired.verify(old_token, TokenUse.ACCESS)


def test_a_verifier_needs_only_public_keys_and_cannot_sign(keys_dir: Path, tmp_path: Path) -> None:
    signer = TokenService(load_key_set(keys_dir), ISSUER, AUDIENCE)
    public_only = tmp_path / "public"
    public_only.mkdir()
    kid = str(signer.keys.signing_kid)
    (public_only / f"{kid}.pub.pem").write_bytes(
        signer.keys.public[kid].public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    verifier = TokenService(load_key_set(public_only), ISSUER, AUDIENCE)

    verifier.verify(signer.access_token(uuid4(), frozenset()).token, TokenUse.ACCESS)
    with pytest.raises(RuntimeError):
        verifier.access_token(uuid4(), frozenset())


def test_no_keys_no_service(tmp_path: Path) -> None:
    with pytest.raises(KeysMissing):
        load_key_set(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KeysMissing):
        load_key_set(tmp_path / "empty")


def test_a_remembered_access_token_still_expires(
    tokens: TokenService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verified tokens are remembered per process (one signature check per token), never
    past their ``exp`` and its leeway."""
    now = int(time.time())
    token = signed(tokens, claims(iat=now, exp=now + 60))
    assert tokens.verify(token, TokenUse.ACCESS) == tokens.verify(token, TokenUse.ACCESS)
    monkeypatch.setattr("security.tokens.time.time", lambda: now + 60 + LEEWAY_SECONDS + 1)
    with pytest.raises(TokenExpired):
        tokens.verify(token, TokenUse.ACCESS)


def test_a_copy_of_a_remembered_token_with_another_payload_is_refused(
    tokens: TokenService,
) -> None:
    token = signed(tokens, claims(roles=["customer"]))
    tokens.verify(token, TokenUse.ACCESS)
    head, _, signature = token.split(".")
    elevated = b64(json.dumps(claims(roles=["admin"])).encode())
    with pytest.raises(TokenRejected):
        tokens.verify(f"{head}.{elevated}.{signature}", TokenUse.ACCESS)
    with pytest.raises(TokenRejected):  # a remembered access token is no refresh token
        tokens.verify(token, TokenUse.REFRESH)
