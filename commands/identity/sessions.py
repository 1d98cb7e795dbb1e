"""Sign-in endpoints: log in, refresh (rotating), log out (ADR 0018).

Login answers 401 ``invalid_credentials`` for an unknown address and a wrong password alike,
and is rate limited per client address and per address and e-mail pair (429 with
Retry-After), so nobody elsewhere can lock an address's owner out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from fastapi import APIRouter, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from commands.http.command import Audit
from commands.identity.application import IdentityApplication
from commands.identity.models import Login, RefreshToken
from domain.errors import NotFound
from domain.identity import InvalidEmail, User
from security.access import Public, RateLimited, Unauthorized, client_address, revoke_tokens
from security.ratelimit import Limit, RateLimiter
from security.refresh import RefreshRefused, RefreshTokenStore, Rotation
from security.tokens import Claims, IssuedToken, TokenRejected, TokenService, TokenUse


@dataclass(frozen=True)
class Sessions:
    identity: IdentityApplication
    tokens: TokenService
    refresh_tokens: RefreshTokenStore
    limiter: RateLimiter | None
    login_limit: Limit


def router(sessions: Sessions) -> APIRouter:
    routes = APIRouter(prefix="/auth", tags=["auth"], dependencies=[Public])
    identity, tokens, store = sessions.identity, sessions.tokens, sessions.refresh_tokens

    def grant(user: User, refresh: IssuedToken) -> dict[str, Any]:
        access = tokens.access_token(user.id, frozenset(user.roles))
        return {
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": tokens.access_seconds,
            "refresh_token": refresh.token,
            "refresh_expires_in": tokens.refresh_seconds,
            "user_id": str(user.id),  # who signed in, without decoding the token
            "roles": sorted(user.roles),
        }

    async def limit_login(request: Request, email: str) -> None:
        if sessions.limiter is None:
            return
        try:  # keyed, so the bucket's name reveals no address
            who = identity.email_hash(email)
        except InvalidEmail:
            who = "invalid"
        # Per address, and per address and e-mail pair: failing for someone else's e-mail
        # from elsewhere cannot lock its owner out (a per-e-mail bucket could).
        address = client_address(request)
        for key in (f"login:addr:{address}", f"login:pair:{address}:{who}"):
            verdict = await sessions.limiter.take(key, sessions.login_limit)
            if not verdict.allowed:
                raise RateLimited(verdict.retry_after_seconds, "login")

    @routes.post("/login")
    async def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
        """Exchange e-mail and password for an access token (15 min) and a refresh token."""
        await limit_login(request, body.email)
        user = await run_in_threadpool(
            identity.authenticate, body.email, body.password.get_secret_value()
        )
        if user is None:
            raise _invalid_credentials()
        family = uuid4()
        refresh = tokens.refresh_token(user.id, family)
        await run_in_threadpool(store.record, user.id, family, refresh)
        response.headers["Cache-Control"] = "no-store"
        return grant(user, refresh)

    @routes.post("/refresh")
    def refresh(body: RefreshToken, response: Response, audit: Audit) -> dict[str, Any]:
        """Spend a refresh token for a new pair. A spent one used again ends the session."""
        claims = _verified(tokens, body.refresh_token)

        def successor(rotation: Rotation) -> IssuedToken:
            return tokens.refresh_token(rotation.user_id, rotation.family_id)

        try:
            user = identity.get_user(claims.user_id)
            if user.erased:  # an erased user's sessions end with the erasure
                store.revoke(claims)
                raise Unauthorized("the user no longer exists", "user_gone")
            new_refresh = store.rotate(claims, successor)
        except RefreshRefused as e:
            if e.family_revoked is not None:
                audit.record(
                    "system:auth",
                    "auth.refresh_token_reused",
                    f"user:{claims.user_id}",
                    None,
                    {"family_id": str(e.family_revoked)},
                )
            raise Unauthorized(str(e), "refresh_refused") from None
        except NotFound:
            raise Unauthorized("the user no longer exists", "user_gone") from None
        response.headers["Cache-Control"] = "no-store"
        return grant(user, new_refresh)

    @routes.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
    def logout(body: RefreshToken, request: Request) -> None:
        """End the session the refresh token belongs to (every token of its family). The
        user's access tokens end at once too, on every device (ADR 0033): other sessions
        get a new one with their refresh token."""
        claims = _verified(tokens, body.refresh_token)
        revoke_tokens(request, claims.user_id, "signed out")
        store.revoke(claims)

    return routes


def _verified(tokens: TokenService, token: str) -> Claims:
    try:
        return tokens.verify(token, TokenUse.REFRESH)
    except TokenRejected as e:
        raise Unauthorized(
            f"the refresh token is not valid: {e}", "invalid_refresh_token"
        ) from None


def _invalid_credentials() -> Unauthorized:
    error = Unauthorized("e-mail address or password is wrong", "invalid_credentials")
    error.code = "invalid_credentials"
    return error
