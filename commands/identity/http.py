"""Identity command endpoints: registration, profile, preferences and roles."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response, status

from commands.base import CommandResult
from commands.http.headers import (
    CorrelationId,
    IdempotencyKey,
    IfMatch,
    expected_version,
    with_etag,
)
from commands.identity.application import IdentityApplication
from commands.identity.models import AssignRole, ChangeProfile, RegisterUser, SetPreferences
from commands.metadata import caused_by, current_correlation_id
from domain.errors import NotFound
from domain.identity import Role
from security.access import (
    AdminOnly,
    CurrentUser,
    Principal,
    Public,
    RegistrationLimit,
    owned,
    revoke_tokens,
)
from security.audit import Audit


def _self(principal: Principal, user_id: UUID) -> None:
    """A user changes their own profile (staff: anyone's); another id is as missing as none."""
    owned(principal, user_id, NotFound(f"user {user_id} does not exist"))


def router(identity: IdentityApplication, read_api_url: str) -> APIRouter:
    routes = APIRouter(prefix="/users", tags=["identity"])

    @routes.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=CommandResult,
        dependencies=[Public, RegistrationLimit],
    )
    def register_user(
        command: RegisterUser,
        response: Response,
        idempotency_key: IdempotencyKey = None,
        x_correlation_id: CorrelationId = None,
    ) -> dict[str, Any]:
        """Register a user (a customer). One user per e-mail address: 409 `email_taken`.

        With an Idempotency-Key, a repeat returns the first response and registers no one.
        """
        user_id = identity.idempotent_id(idempotency_key)
        with caused_by(x_correlation_id):
            result = identity.once(
                idempotency_key,
                "register_user",
                command,
                lambda: identity.register(command, user_id),
            )
        return with_etag(response, result)

    @routes.put("/{user_id}/profile")
    def change_profile(
        user_id: UUID,
        command: ChangeProfile,
        response: Response,
        principal: CurrentUser,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        """Replace the profile (display name, address, phone): the user's own only."""
        _self(principal, user_id)
        with caused_by(x_correlation_id):
            result = identity.change_profile(user_id, command, expected_version(if_match))
        return with_etag(response, result)

    @routes.put("/{user_id}/preferences")
    def set_preferences(
        user_id: UUID,
        command: SetPreferences,
        response: Response,
        principal: CurrentUser,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        _self(principal, user_id)
        with caused_by(x_correlation_id):
            result = identity.set_preferences(user_id, command, expected_version(if_match))
        return with_etag(response, result)

    @routes.post("/{user_id}/roles")
    def assign_role(
        user_id: UUID,
        command: AssignRole,
        response: Response,
        principal: AdminOnly,
        audit: Audit,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        """Grant a role (admins only; recorded in the audit log)."""
        with caused_by(x_correlation_id):
            result = identity.assign_role(user_id, command.role, expected_version(if_match))
            audit.record(
                principal.actor,
                "identity.role_assigned",
                f"user:{user_id}",
                current_correlation_id(),
                {"role": command.role.value, "version": result.version},
            )
        return with_etag(response, result)

    @routes.post("/{user_id}/erase")
    def erase_user(
        user_id: UUID,
        request: Request,
        response: Response,
        principal: CurrentUser,
        audit: Audit,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        """Erase the user's personal data (right to erasure). Their e-mail, name, address and
        phone read as `[erased]` from then on, everywhere, and the address can register again;
        orders stay, with the pseudonymous user id. A repeat changes nothing. The user
        themselves or an admin; recorded in the audit log. Their sessions end, and so do
        their access tokens, at once (ADR 0033)."""
        _self(principal, user_id)
        revoke_tokens(request, user_id, "erased")
        with caused_by(x_correlation_id):
            result = identity.erase(user_id)
            audit.record(
                principal.actor,
                "identity.erased",
                f"user:{user_id}",
                current_correlation_id(),
                {"version": result.version},
            )
        return with_etag(response, result)

    @routes.delete("/{user_id}/roles/{role}")
    def revoke_role(
        user_id: UUID,
        role: Role,
        request: Request,
        response: Response,
        principal: AdminOnly,
        audit: Audit,
        if_match: IfMatch = None,
        x_correlation_id: CorrelationId = None,
    ) -> CommandResult:
        """Take a role away (admins only; audited). The user's access tokens, which carry
        their roles, end at once (ADR 0033): signing in or refreshing gives the roles left."""
        revoke_tokens(request, user_id, f"role {role.value} removed")
        with caused_by(x_correlation_id):
            result = identity.revoke_role(user_id, role, expected_version(if_match))
            audit.record(
                principal.actor,
                "identity.role_revoked",
                f"user:{user_id}",
                current_correlation_id(),
                {"role": role.value, "version": result.version},
            )
        return with_etag(response, result)

    return routes
