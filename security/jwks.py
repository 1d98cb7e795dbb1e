"""The token verification keys published as a JSON Web Key Set (RFC 7517, RFC 8037).

Gateways (Envoy ``jwt_authn``, Istio ``RequestAuthentication``, Kong) verify access tokens at
the edge against this set, with the same algorithm, issuer and audience as the APIs' own
checks (ADR 0018); the APIs still verify every token themselves. Public halves only.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Response

from security.access import Public
from security.keys import KeySet
from security.tokens import ALGORITHM

JWKS_PATH = "/.well-known/jwks.json"


def public_jwks(keys: KeySet) -> dict[str, list[dict[str, str]]]:
    """Every public key of ``keys`` as an OKP/Ed25519 JWK, sorted by kid."""
    return {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": kid,
                "alg": ALGORITHM,
                "use": "sig",
                "x": _b64url(
                    key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                ),
            }
            for kid, key in sorted(keys.public.items())
        ]
    }


def router(keys: KeySet) -> APIRouter:
    jwks = public_jwks(keys)
    api = APIRouter(tags=["identity"], dependencies=[Public])

    @api.get(JWKS_PATH, summary="The public keys that verify access tokens (JWKS)")
    def published_keys(response: Response) -> dict[str, Any]:
        # Gateways cache it; a rotation adds the new key well before it signs (ADR 0018).
        response.headers["Cache-Control"] = "public, max-age=300"
        return jwks

    return api


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
