"""Identity command endpoints: registration, profile, preferences and roles."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, status

from commands.base import CommandResult
from commands.http.command import Audit, AuditNote, Keyed, Traced, Versioned
from commands.identity.application import IdentityApplication
from commands.identity.models import (
    AssignRole,
    ChangeProfile,
    PostalAddress,
    RegisterUser,
    SetPreferences,
)
from domain.errors import NotFound
from domain.identity import Address, Role
from security.access import (
    AdminOnly,
    CurrentUser,
    Principal,
    Public,
    RegistrationLimit,
    owned,
    revoke_tokens,
)


def _self(principal: Principal, user_id: UUID) -> None:
    """A user changes their own profile (staff: anyone's); another id is as missing as none."""
    owned(principal, user_id, NotFound(f"user {user_id} does not exist"))


def _version(result: CommandResult) -> dict[str, Any]:
    return {"version": result.version}


def router(identity: IdentityApplication, read_api_url: str) -> APIRouter:
    routes = APIRouter(prefix="/users", tags=["identity"])

    @routes.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=CommandResult,
        dependencies=[Public, RegistrationLimit],
    )
    def register_user(command: RegisterUser, call: Keyed) -> dict[str, Any]:
        """Register a user (a customer). One user per e-mail address: 409 `email_taken`.

        With an Idempotency-Key, a repeat returns the first response and registers no one.
        """
        user_id = identity.idempotent_id(call.idempotency_key)
        return call.once(
            identity,
            "register_user",
            command,
            lambda: identity.register(
                user_id,
                command.email,
                command.password.get_secret_value(),
                command.display_name,
                _address(command.address),
                command.phone,
            ),
        )

    @routes.put("/{user_id}/profile")
    def change_profile(
        user_id: UUID, command: ChangeProfile, principal: CurrentUser, call: Versioned
    ) -> CommandResult:
        """Replace the profile (display name, address, phone): the user's own only."""
        _self(principal, user_id)
        address = _address(command.address)
        return call.run(
            lambda: identity.change_profile(
                user_id, command.display_name, address, command.phone, call.expected_version
            )
        )

    @routes.put("/{user_id}/preferences")
    def set_preferences(
        user_id: UUID, command: SetPreferences, principal: CurrentUser, call: Versioned
    ) -> CommandResult:
        _self(principal, user_id)
        preferences = command.to_preferences()
        return call.run(
            lambda: identity.set_preferences(user_id, preferences, call.expected_version)
        )

    @routes.post("/{user_id}/roles")
    def assign_role(
        user_id: UUID, command: AssignRole, principal: AdminOnly, audit: Audit, call: Versioned
    ) -> CommandResult:
        """Grant a role (admins only; recorded in the audit log)."""
        return call.run(
            lambda: identity.assign_role(user_id, command.role, call.expected_version),
            AuditNote(
                audit,
                principal,
                "identity.role_assigned",
                f"user:{user_id}",
                lambda result: {"role": command.role.value, **_version(result)},
            ),
        )

    @routes.post("/{user_id}/erase")
    def erase_user(
        user_id: UUID, request: Request, principal: CurrentUser, audit: Audit, call: Traced
    ) -> CommandResult:
        """Erase the user's personal data (right to erasure). Their e-mail, name, address and
        phone read as `[erased]` from then on, everywhere, and the address can register again;
        orders stay, with the pseudonymous user id. A repeat changes nothing. The user
        themselves or an admin; recorded in the audit log. Their sessions end, and so do
        their access tokens, at once (ADR 0033)."""
        _self(principal, user_id)
        revoke_tokens(request, user_id, "erased")
        return call.run(
            lambda: identity.erase(user_id),
            AuditNote(audit, principal, "identity.erased", f"user:{user_id}", _version),
        )

    @routes.delete("/{user_id}/roles/{role}")
    def revoke_role(
        user_id: UUID,
        role: Role,
        request: Request,
        principal: AdminOnly,
        audit: Audit,
        call: Versioned,
    ) -> CommandResult:
        """Take a role away (admins only; audited). The user's access tokens, which carry
        their roles, end at once (ADR 0033): signing in or refreshing gives the roles left."""
        revoke_tokens(request, user_id, f"role {role.value} removed")
        return call.run(
            lambda: identity.revoke_role(user_id, role, call.expected_version),
            AuditNote(
                audit,
                principal,
                "identity.role_revoked",
                f"user:{user_id}",
                lambda result: {"role": role.value, **_version(result)},
            ),
        )

    return routes


def _address(posted: PostalAddress | None) -> Address | None:
    return None if posted is None else posted.to_address()
