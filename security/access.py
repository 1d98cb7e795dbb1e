"""Who is asking and what they may do, as FastAPI dependencies for both APIs.

Every route declares a policy with one dependency: ``Public`` (anyone), ``CurrentUser``
(any signed-in user; the handler checks ownership with ``owned``) or ``require(roles)``.
The app-wide ``gate`` runs first on every request: it charges the rate limits and refuses a
route that declares no policy to anyone but an admin, so a router added without thinking
about access is closed, not open. Ownership failures answer 404 like a missing id, so ids
cannot be probed; a missing role answers 403.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.identity import Role
from security.not_before import NotBefore, RevocationUnavailable
from security.problems import Problem
from security.ratelimit import Limit, RateLimiter
from security.tokens import TokenExpired, TokenRejected, TokenService, TokenUse

_POLICY = "_shop_access_policy"
_PER_ADDRESS = Limit(50, 200)
_PER_USER = Limit(20, 100)
_PER_REGISTRATION = Limit(10 / 60, 10)
_bearer = HTTPBearer(auto_error=False, description="an access token from POST /auth/login")


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    roles: frozenset[Role]
    issued_at_ms: int = 0  # of the access token, for the not-before check (ADR 0033)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


@dataclass
class Access:
    """What the dependencies need; ``infra`` puts one on ``app.state.access``."""

    tokens: TokenService
    limiter: RateLimiter | None = None
    per_address: Limit = _PER_ADDRESS
    per_user: Limit = _PER_USER
    # Registration hashes a password with argon2: a bucket per address of its own.
    registrations: Limit = _PER_REGISTRATION
    # Per-user not-before (ADR 0033); None only in bare test apps.
    not_before: NotBefore | None = None


class Unauthorized(Problem):
    code = "unauthorized"

    def __init__(self, detail: str, reason: str = "invalid_token") -> None:
        super().__init__(401, detail, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        self.reason = reason  # a metric label: a fixed word, never the token


class Forbidden(Problem):
    code = "forbidden"

    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


class TokenRevoked(Unauthorized):
    code = "token_revoked"

    def __init__(self) -> None:
        super().__init__(
            "this access token was revoked (signed out, erased or a role removed): "
            "sign in again or use POST /auth/refresh",
            reason="revoked",
        )


class RevocationFailed(Problem):
    code = "store_unavailable"

    def __init__(self) -> None:
        super().__init__(
            503,
            "the revocation could not be recorded everywhere; nothing was done, retry",
            {"Retry-After": "2"},
        )


class RateLimited(Problem):
    code = "rate_limited"

    def __init__(self, retry_after_seconds: float, limit: str = "request") -> None:
        retry = str(max(1, math.ceil(retry_after_seconds)))
        super().__init__(429, f"too many requests; retry in {retry} s", {"Retry-After": retry})
        self.limit = limit  # which limit refused (a metric label)


def access_of(request: Request) -> Access:
    access = getattr(request.app.state, "access", None)
    if not isinstance(access, Access):
        raise RuntimeError("this app has no access configuration (app.state.access)")
    return access


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _policy(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    setattr(function, _POLICY, name)
    return function


async def public() -> None:
    """Anyone may call the route. (A coroutine: FastAPI runs a plain function dependency in
    its thread pool, a hop per request for nothing.)"""


_policy(public, "public")
Public = Depends(public)


async def principal_of(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> Principal:
    """The signed-in user of an access token (401 without a valid one); once per request."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send an access token: Authorization: Bearer <token>", "missing_token")
    try:
        claims = access_of(request).tokens.verify(credentials.credentials, TokenUse.ACCESS)
    except TokenExpired:
        raise Unauthorized(
            "the access token has expired: sign in again or use POST /auth/refresh",
            "expired_token",
        ) from None
    except TokenRejected as e:
        raise Unauthorized(f"the access token is not valid: {e}") from None
    principal = Principal(claims.user_id, claims.roles, claims.issued_at_ms)
    request.state.principal = principal
    return principal


_policy(principal_of, "authenticated")
CurrentUser = Annotated[Principal, Depends(principal_of)]


def require(*roles: Role) -> Callable[..., Any]:
    """A dependency: the signed-in user holds one of ``roles`` (403 otherwise)."""
    allowed = frozenset(roles)

    async def holds_role(principal: CurrentUser) -> Principal:
        if not principal.roles & allowed:
            raise Forbidden("this needs the role " + " or ".join(sorted(allowed)))
        return principal

    return _policy(holds_role, "roles:" + ",".join(sorted(allowed)))


AdminOnly = Annotated[Principal, Depends(require(Role.ADMIN))]
Admin = Depends(require(Role.ADMIN))


def owned(principal: Principal, owner_id: UUID | None, missing: Exception) -> None:
    """Let the owner (or an admin) through; anyone else gets ``missing``, the very error a
    nonexistent id gets, so a foreign id looks like no id at all."""
    if principal.is_admin or (owner_id is not None and owner_id == principal.user_id):
        return
    raise missing


def policy_of(route: Any) -> str | None:
    """The policy a route declares (None: it declares none)."""
    if not isinstance(route, APIRoute):
        return None
    cached: str | None = getattr(route, _POLICY, None)
    if cached is not None:
        return cached or None
    found = _find_policy(route.dependant) or ""
    setattr(route, _POLICY, found)
    return found or None


def _find_policy(dependant: Dependant) -> str | None:
    for dependency in dependant.dependencies:
        name = getattr(dependency.call, _POLICY, None)
        if name is not None:
            return str(name)
        found = _find_policy(dependency)
        if found is not None:
            return found
    return None


async def gate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
) -> None:
    """App-wide, before anything else: rate limits; undeclared routes are for admins only."""
    access = access_of(request)
    policy = policy_of(request.scope.get("route"))
    address = (f"addr:{client_address(request)}", access.per_address)
    if policy == "public":
        await _charge(access.limiter, address)
        return
    try:
        principal = await principal_of(request, credentials)
    except Unauthorized:
        await _charge(access.limiter, address)  # a bad token still costs its address
        raise
    # Both buckets and the user's not-before in one round trip; a request refused per
    # address costs its user nothing.
    user = (f"user:{principal.user_id}", access.per_user)
    if access.not_before is None:
        await _charge(access.limiter, address, user)
    else:
        revoked_if = (access.not_before.key(principal.user_id), principal.issued_at_ms)
        revoked = await _charge(access.limiter, address, user, revoked_if=revoked_if)
        if revoked is None:  # Redis did not say: the durable record does
            revoked = await access.not_before.revoked_in_database(
                principal.user_id, principal.issued_at_ms
            )
        if revoked:
            raise TokenRevoked()
    if policy is None and not principal.is_admin:
        raise Forbidden("this needs the role admin")


async def _charge(
    limiter: RateLimiter | None,
    *buckets: tuple[str, Limit],
    revoked_if: tuple[str, int] | None = None,
    limit: str = "request",
) -> bool | None:
    """Take from the buckets (429 when one refuses); with ``revoked_if``, whether the token
    is revoked (None: Redis did not answer, or there is no limiter to ask). ``limit`` names
    the refusing limit in the metrics."""
    if limiter is None:
        return None
    verdict = await limiter.take_all(buckets, revoked_if=revoked_if)
    if verdict.revoked:
        return True
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after_seconds, limit)
    return verdict.revoked


def revoke_tokens(request: Request, user_id: UUID, reason: str) -> None:
    """End every access token ``user_id`` holds, on both APIs, before the command that
    needs it runs (erasure, role removal, logout); 503 if that cannot be recorded."""
    not_before = access_of(request).not_before
    if not_before is None:
        return
    try:
        not_before.revoke(user_id, reason)
    except RevocationUnavailable:
        raise RevocationFailed() from None


async def limit_registrations(request: Request) -> None:
    """A route dependency: charge the address's registration bucket (429 when empty)."""
    access = access_of(request)
    bucket = (f"register:addr:{client_address(request)}", access.registrations)
    await _charge(access.limiter, bucket, limit="registration")


RegistrationLimit = Depends(limit_registrations)
Gate = Depends(gate)
