"""JWTs as RFC 8725 asks: one algorithm (EdDSA), a key picked by ``kid``, typed tokens.

An access token (``typ: at+jwt``, RFC 9068) lives 15 minutes and carries the user id and
roles. A refresh token (``typ: rt+jwt``) is only accepted by ``/auth/refresh`` and
``/auth/logout``; its ``jti`` is what the refresh store keeps (hashed). Verification pins the
algorithm, requires ``iss``, ``aud``, ``exp``, ``iat``, ``sub`` and ``jti``, and checks the type
both in the header and in ``token_use``, so one kind is never accepted as the other.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

import jwt

from domain.identity import Role
from security.keys import KeySet

ALGORITHM = "EdDSA"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti"]
LEEWAY_SECONDS = 5
# Access tokens verified once per process and remembered until they expire: an Ed25519
# check and PyJWT's parsing cost more than the rest of a command's HTTP handling. Keyed by
# the token's digest, so no bearer token sits in memory longer than its request. Bounded:
# the oldest entry goes first.
_VERIFIED_ACCESS_TOKENS = 10_000


class TokenUse(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"

    @property
    def typ(self) -> str:
        return "at+jwt" if self is TokenUse.ACCESS else "rt+jwt"


class TokenRejected(Exception):
    """Why a token is refused; the reason is for logs and the 401 detail, never a secret."""


class TokenExpired(TokenRejected):
    """A token that was valid and no longer is: refresh it or sign in again."""


@dataclass(frozen=True)
class Claims:
    user_id: UUID
    roles: frozenset[Role]
    jti: str
    expires_at: int
    family_id: UUID | None = None
    # When it was issued, to the millisecond (``iat_ms``, else the start of ``iat``'s second):
    # compared with the user's not-before (ADR 0033).
    issued_at_ms: int = 0


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int


class TokenService:
    def __init__(
        self,
        keys: KeySet,
        issuer: str,
        audience: str,
        access_seconds: int = 900,
        refresh_seconds: int = 14 * 24 * 3600,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.access_seconds = access_seconds
        self.refresh_seconds = refresh_seconds
        self._verified: dict[bytes, Claims] = {}
        self._remembering = threading.Lock()

    def access_token(self, user_id: UUID, roles: frozenset[Role]) -> IssuedToken:
        return self._issue(TokenUse.ACCESS, user_id, self.access_seconds, {"roles": sorted(roles)})

    def refresh_token(self, user_id: UUID, family_id: UUID) -> IssuedToken:
        return self._issue(TokenUse.REFRESH, user_id, self.refresh_seconds, {"fam": str(family_id)})

    def verify(self, token: str, use: TokenUse) -> Claims:
        """The claims of a valid token of kind ``use``; ``TokenRejected`` (or
        ``TokenExpired``) with the reason otherwise. Revocation is not checked here: the
        per-user not-before (ADR 0033) and the refresh store do that on every request."""
        if use is not TokenUse.ACCESS:
            return self._verify(token, use)
        digest = hashlib.blake2b(token.encode(), digest_size=20).digest()
        known = self._verified.get(digest)
        if known is not None:
            if time.time() < known.expires_at + LEEWAY_SECONDS:  # as PyJWT reads ``exp``
                return known
            self._verified.pop(digest, None)
            raise TokenExpired("it has expired")
        claims = self._verify(token, use)
        with self._remembering:  # API handlers verify from several threads
            if len(self._verified) >= _VERIFIED_ACCESS_TOKENS:
                self._verified.pop(next(iter(self._verified)))
            self._verified[digest] = claims
        return claims

    def _verify(self, token: str, use: TokenUse) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise TokenRejected("malformed token") from e
        if header.get("alg") != ALGORITHM:
            raise TokenRejected("algorithm not accepted")
        if header.get("typ") != use.typ:
            raise TokenRejected(f"not an {use.value} token")
        key = self.keys.public.get(str(header.get("kid")))
        if key is None:
            raise TokenRejected("unknown key id")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError as e:
            raise TokenExpired("it has expired") from e
        except jwt.ImmatureSignatureError as e:
            raise TokenRejected("it is not valid yet") from e
        except (jwt.InvalidAudienceError, jwt.InvalidIssuerError) as e:
            raise TokenRejected("it was issued for another audience or by another issuer") from e
        except jwt.InvalidSignatureError as e:
            raise TokenRejected("its signature does not match") from e
        except jwt.PyJWTError as e:
            raise TokenRejected(f"it cannot be read ({type(e).__name__})") from e
        if claims.get("token_use") != use.value:
            raise TokenRejected(f"not an {use.value} token")
        issued, expires = claims.get("iat"), claims.get("exp")
        # PyJWT takes "9999999999" for a number.
        if not isinstance(issued, int) or not isinstance(expires, int):
            raise TokenRejected("exp and iat must be numbers")
        lifetime = self.access_seconds if use is TokenUse.ACCESS else self.refresh_seconds
        if expires - issued > lifetime + LEEWAY_SECONDS or issued > time.time() + LEEWAY_SECONDS:
            raise TokenRejected("the token lives longer than this service issues them")
        issued_ms = claims.get("iat_ms")
        if not isinstance(issued_ms, int) or not 0 <= issued_ms - issued * 1000 < 1000:
            issued_ms = issued * 1000
        try:
            return Claims(
                UUID(claims["sub"]),
                frozenset(Role(r) for r in claims.get("roles", [])),
                str(claims["jti"]),
                int(claims["exp"]),
                UUID(claims["fam"]) if use is TokenUse.REFRESH else None,
                issued_ms,
            )
        except (ValueError, KeyError, TypeError) as e:
            raise TokenRejected("malformed claims") from e

    def _issue(
        self, use: TokenUse, user_id: UUID, seconds: int, extra: dict[str, Any]
    ) -> IssuedToken:
        if self.keys.signing_key is None:
            raise RuntimeError("this service holds no signing key")
        now_ms = time.time_ns() // 1_000_000
        now = now_ms // 1000
        jti = secrets.token_urlsafe(32)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": now,
            "iat_ms": now_ms,
            "nbf": now,
            "exp": now + seconds,
            "jti": jti,
            "token_use": use.value,
            **extra,
        }
        token = jwt.encode(
            claims,
            self.keys.signing_key,
            algorithm=ALGORITHM,
            headers={"kid": self.keys.signing_kid, "typ": use.typ},
        )
        return IssuedToken(token, jti, now + seconds)
