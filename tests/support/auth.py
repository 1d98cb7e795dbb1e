"""Signing in, in tests: access tokens for any user id and roles, signed with the test keys.

The ``stack`` fixture's embedded stack generated the keys (``settings.auth_keys_dir``); the
APIs under test verify with the same key set, exactly as they verify a login's tokens.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import FastAPI
from fastapi.routing import APIRoute

from domain.identity import Role
from infra import bootstrap
from infra.settings import Settings
from security.access import Access


def token(settings: Settings, user_id: UUID, *roles: Role) -> str:
    return bootstrap.token_service(settings).access_token(user_id, frozenset(roles)).token


def bearer(settings: Settings, user_id: UUID | None = None, *roles: Role) -> dict[str, str]:
    """Authorization headers for ``user_id`` (a fresh id if None) holding ``roles``."""
    return {"Authorization": f"Bearer {token(settings, user_id or uuid4(), *roles)}"}


def as_admin(settings: Settings) -> dict[str, str]:
    return bearer(settings, uuid4(), Role.ADMIN)


def as_customer(settings: Settings, user_id: UUID) -> dict[str, str]:
    return bearer(settings, user_id, Role.CUSTOMER)


def with_access(api: FastAPI, settings: Settings) -> FastAPI:
    """A bare test app with routers of ours: verify tokens as the real apps do (no limits)."""
    api.state.access = Access(bootstrap.token_service(settings))
    return api


def route_table(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """(method, full path, route) for every endpoint of ``app``, included routers too."""
    try:  # FastAPI ≥ 0.16x keeps included routers as they are and resolves them lazily
        from fastapi.routing import iter_route_contexts
    except ImportError:
        flat = [(getattr(route, "path", ""), route) for route in app.routes]
    else:
        flat = [(str(c.path), c.original_route) for c in iter_route_contexts(app.routes)]
    return sorted(
        (method, path, route)
        for path, route in flat
        if isinstance(route, APIRoute)
        for method in (route.methods or set()) - {"HEAD", "OPTIONS"}
    )
