"""The identity context's application service: thin handlers over the User aggregate."""

from __future__ import annotations

from functools import cached_property
from typing import Protocol, cast
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, IntegrityError
from eventsourcing.popo import POPOFactory
from eventsourcing.postgres import PostgresFactory
from eventsourcing.utils import get_topic

from commands.base import MAX_CONFLICT_RETRIES, CommandResult, ShopApplication, VersionConflict
from commands.identity.credentials import (
    Credentials,
    POPOIdentityRecorder,
    PostgresIdentityRecorder,
)
from commands.identity.emails import (
    EmailClaim,
    EmailClaims,
    Erasure,
    email_hash,
)
from commands.privacy.keyring import decode_key, new_key
from commands.privacy.personal_data import OwnerErased
from domain.errors import AlreadyExists
from domain.identity import Address, InvalidEmail, Preferences, Role, User, normalise_email
from security.passwords import hash_password, needs_rehash, verify_password

EMAIL_HASH_KEY = "EMAIL_HASH_KEY"  # base64 secret of the e-mail HMAC


class EmailTaken(AlreadyExists):
    code = "email_taken"


class RegistrationErased(AlreadyExists):
    """The id a keyed registration derives belongs to a user who was erased since."""

    code = "registration_erased"


class PasswordStore(Protocol):
    def password_hash(self, user_id: UUID) -> str | None: ...

    def replace_password_hash(self, user_id: UUID, password_hash: str) -> None: ...


class IdentityApplication(ShopApplication):
    name = "identity"
    context = "identity"

    def construct_recorder(self) -> ApplicationRecorder:
        if isinstance(self.factory, POPOFactory):
            return POPOIdentityRecorder()
        if isinstance(self.factory, PostgresFactory):
            topic = PostgresFactory.APPLICATION_RECORDER_TOPIC
            self.factory.env[topic] = get_topic(PostgresIdentityRecorder)
        return super().construct_recorder()

    @property
    def email_claims(self) -> EmailClaims:
        return cast(EmailClaims, self.recorder)

    @cached_property
    def _email_hash_key(self) -> bytes:
        configured = self.env.get(EMAIL_HASH_KEY)
        if configured:
            return decode_key(configured)
        if isinstance(self.factory, POPOFactory):  # in memory: nothing outlives the process
            return new_key()
        raise OSError(f"{EMAIL_HASH_KEY} is not set")

    def email_hash(self, email: str) -> str:
        """The keyed hash of an address as claims store it (normalised first)."""
        return email_hash(self._email_hash_key, normalise_email(email))

    def user_for_email(self, email: str) -> UUID | None:
        """Who registered with this address (the login lookup); None if no one or malformed."""
        try:
            return self.email_claims.email_owner(self.email_hash(email))
        except InvalidEmail:
            return None

    @property
    def passwords(self) -> PasswordStore:
        return cast(PasswordStore, self.recorder)

    def register(
        self,
        user_id: UUID,
        email: str,
        password: str,
        display_name: str,
        address: Address | None = None,
        phone: str | None = None,
    ) -> CommandResult:
        """Register a user with the given id; the address is claimed in the same transaction.

        A collision is either the same registration again (same id owns the address: answer
        with the first result) or another user's address (409 ``email_taken``). The id of a
        user erased since (a keyed registration repeated after the erasure, whose answer was
        dropped with the user's data) is 409 ``registration_erased``: the key is spent.
        """
        user = User.register(user_id, email, display_name, address, phone)
        claim = EmailClaim(self.email_hash(user.email), user.id)
        credentials = Credentials(user.id, hash_password(password))
        try:
            recordings = self.save(user, email_claim=claim, credentials=credentials)
        except OwnerErased:  # its data key was shredded: the id is an erased user's
            raise RegistrationErased(
                f"user {user.id} was erased; register with a new Idempotency-Key"
            ) from None
        except IntegrityError:
            owner = self.email_claims.email_owner(claim.email_hash)
            if owner == user.id:
                return self.result_at(user.id, 1)
            if owner is None:  # the id exists with another address: a reused key
                raise AlreadyExists(f"user {user.id} already exists") from None
            raise EmailTaken("that e-mail address is already registered") from None
        return CommandResult(user.id, user.version, recordings[-1].notification.id)

    def change_profile(
        self,
        user_id: UUID,
        display_name: str,
        address: Address | None = None,
        phone: str | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Replace the whole profile: what is not given is removed."""
        return self.update(
            User,
            user_id,
            "user",
            lambda u: u.change_profile(display_name, address, phone),
            expected_version,
        )

    def set_preferences(
        self, user_id: UUID, preferences: Preferences, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(
            User, user_id, "user", lambda u: u.set_preferences(preferences), expected_version
        )

    def assign_role(
        self, user_id: UUID, role: Role, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(User, user_id, "user", lambda u: u.assign_role(role), expected_version)

    def revoke_role(
        self, user_id: UUID, role: Role, expected_version: int | None = None
    ) -> CommandResult:
        return self.update(User, user_id, "user", lambda u: u.revoke_role(role), expected_version)

    def erase(self, user_id: UUID) -> CommandResult:
        """Erase a user's personal data for good: records ``User.Erased`` and, in the same
        transaction, shreds their data key and releases their e-mail claim. Repeating it
        changes nothing."""
        for _ in range(MAX_CONFLICT_RETRIES):
            user = self.get_user(user_id)
            if user.erased:
                return self.save_and_report(user)  # nothing to save: the current head
            user.erase()
            try:
                recordings = self.save(user, erasure=Erasure(user.id, self.personal_keys))
            except IntegrityError:
                continue  # changed concurrently: erase the fresh state
            return CommandResult(user.id, user.version, recordings[-1].notification.id)
        raise VersionConflict(f"user {user_id} is too busy; try again")

    def authenticate(self, email: str, password: str) -> User | None:
        """The user with this e-mail address and password, or None. An unknown address
        costs one password verification too, so timing does not tell which addresses exist."""
        owner = self.user_for_email(email)
        encoded = None if owner is None else self.passwords.password_hash(owner)
        if not verify_password(encoded, password) or owner is None or encoded is None:
            return None
        if needs_rehash(encoded):  # parameters were raised since: upgrade on a good login
            self.passwords.replace_password_hash(owner, hash_password(password))
        return self.get_user(owner)

    def get_user(self, user_id: UUID) -> User:
        return self.load(User, user_id, "user")
