"""The identity context's User aggregate: who someone is, what they prefer, what they may do.

Personal data (e-mail, display name, address, phone) lives in the events of this context only:
each event that carries some declares it in ``private_fields``, so the integration envelope
leaves it out and only the user id travels on the bus. Credentials (login, tokens) and erasure
come with the security issue; no password or secret is stored here. Changing the e-mail
address is left to that issue too (it needs verification and moving the address claim).

Erasure (GDPR art. 17) is an event: the application deletes the user's data key with it, so
every earlier personal field reads back as ``ERASED`` and this aggregate refuses changes.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, RuleViolated
from domain.personal_data import ERASED, is_erased

# Pragmatic RFC 5321/5322 subset: a dot-atom local part and a dotted host name.
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164
_COUNTRY = re.compile(r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2
MAX_EMAIL_LENGTH = 254
MAX_LOCAL_PART_LENGTH = 64
MAX_DISPLAY_NAME_LENGTH = 100
MAX_ADDRESS_FIELD_LENGTH = 200


class Role(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"
    AUDITOR = "auditor"
    ANALYST = "analyst"


class Language(StrEnum):
    """The languages the shop speaks (ISO 639-1)."""

    EN = "en"
    DE = "de"
    FR = "fr"
    ES = "es"
    IT = "it"
    NL = "nl"


class Currency(StrEnum):
    """The currencies a customer may see prices in (ISO 4217)."""

    EUR = "EUR"
    USD = "USD"
    GBP = "GBP"
    CHF = "CHF"
    SEK = "SEK"
    DKK = "DKK"
    PLN = "PLN"
    JPY = "JPY"


class InvalidEmail(RuleViolated):
    code = "invalid_email"


class InvalidProfile(RuleViolated):
    code = "invalid_profile"


class UserErased(Conflict):
    code = "user_erased"


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    postal_code: str
    city: str
    country: str
    line2: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Preferences:
    marketing_opt_in: bool = False
    language: Language = Language.EN
    currency: Currency = Currency.EUR


def normalise_email(email: str) -> str:
    """The canonical form of an e-mail address: stripped and lower-cased; refused if malformed."""
    normalised = email.strip().lower()
    local, _, _ = normalised.partition("@")
    if (
        len(normalised) > MAX_EMAIL_LENGTH
        or len(local) > MAX_LOCAL_PART_LENGTH
        or not _EMAIL.match(normalised)
    ):
        raise InvalidEmail("not a valid e-mail address")
    return normalised


def check_profile(display_name: str, address: Address | None, phone: str | None) -> None:
    if not display_name.strip() or len(display_name) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidProfile(f"a display name has 1 to {MAX_DISPLAY_NAME_LENGTH} characters")
    if phone is not None and not _PHONE.match(phone):
        raise InvalidProfile("a phone number is in E.164 form, e.g. +4930123456")
    if address is not None:
        required = (address.line1, address.postal_code, address.city)
        if not all(field.strip() for field in required):
            raise InvalidProfile("an address needs a first line, a postal code and a city")
        if any(len(field) > MAX_ADDRESS_FIELD_LENGTH for field in (*required, address.line2)):
            raise InvalidProfile(f"address fields have at most {MAX_ADDRESS_FIELD_LENGTH} chars")
        if not _COUNTRY.match(address.country):
            raise InvalidProfile("a country is an ISO 3166-1 alpha-2 code, e.g. DE")


def _address(data: dict[str, str] | str | None) -> Address | None:
    # An erased address reads back as the ERASED marker (a string), not as a mapping.
    return None if data is None or isinstance(data, str) else Address(**data)


class User(Aggregate):
    class Registered(Aggregate.Created):
        private_fields: ClassVar[tuple[str, ...]] = ("email", "display_name", "address", "phone")
        email: str
        display_name: str
        address: dict[str, str] | None
        phone: str | None

    @classmethod
    def register(
        cls,
        user_id: UUID,
        email: str,
        display_name: str,
        address: Address | None = None,
        phone: str | None = None,
    ) -> User:
        """A new user, a customer to begin with. ``user_id`` comes from the caller (a keyed id)."""
        normalised = normalise_email(email)
        check_profile(display_name, address, phone)
        return cls._create(
            cls.Registered,
            id=user_id,
            email=normalised,
            display_name=display_name,
            address=None if address is None else address.as_dict(),
            phone=phone,
        )

    @event(Registered)
    def __init__(
        self, email: str, display_name: str, address: dict[str, str] | None, phone: str | None
    ) -> None:
        self.email = email
        self.display_name = display_name
        self.address = _address(address)
        self.phone = phone
        self.preferences = Preferences()
        self.roles: set[Role] = {Role.CUSTOMER}
        self.erased = is_erased(email)

    class ProfileChanged(Aggregate.Event):
        private_fields: ClassVar[tuple[str, ...]] = ("display_name", "address", "phone")
        display_name: str
        address: dict[str, str] | None
        phone: str | None

    def change_profile(
        self, display_name: str, address: Address | None = None, phone: str | None = None
    ) -> None:
        """Replace the profile: name, postal address and phone (None removes them)."""
        self._check_not_erased()
        check_profile(display_name, address, phone)
        if (display_name, address, phone) != (self.display_name, self.address, self.phone):
            self._profile_changed(
                display_name, None if address is None else address.as_dict(), phone
            )

    @event(ProfileChanged)
    def _profile_changed(
        self, display_name: str, address: dict[str, str] | None, phone: str | None
    ) -> None:
        self.display_name = display_name
        self.address = _address(address)
        self.phone = phone

    class PreferencesSet(Aggregate.Event):
        marketing_opt_in: bool
        language: str
        currency: str

    def set_preferences(self, preferences: Preferences) -> None:
        self._check_not_erased()
        if preferences != self.preferences:
            self._preferences_set(
                preferences.marketing_opt_in, preferences.language.value, preferences.currency.value
            )

    @event(PreferencesSet)
    def _preferences_set(self, marketing_opt_in: bool, language: str, currency: str) -> None:
        self.preferences = Preferences(marketing_opt_in, Language(language), Currency(currency))

    class RoleAssigned(Aggregate.Event):
        role: str

    def assign_role(self, role: Role) -> None:
        """Grant a role (an admin's command); holding it already changes nothing."""
        self._check_not_erased()
        if role not in self.roles:
            self._role_assigned(role.value)

    @event(RoleAssigned)
    def _role_assigned(self, role: str) -> None:
        self.roles.add(Role(role))

    class RoleRevoked(Aggregate.Event):
        role: str

    def revoke_role(self, role: Role) -> None:
        """Take a role away; not holding it changes nothing."""
        self._check_not_erased()
        if role in self.roles:
            self._role_revoked(role.value)

    @event(RoleRevoked)
    def _role_revoked(self, role: str) -> None:
        self.roles.discard(Role(role))

    class Erased(Aggregate.Event):
        pass

    def erase(self) -> None:
        """Forget who this user is (right to erasure); erasing twice changes nothing.

        The id stays, so orders and analytics keep a pseudonymous customer."""
        if not self.erased:
            self._erased()

    @event(Erased)
    def _erased(self) -> None:
        self.erased = True
        self.email = ERASED
        self.display_name = ERASED
        self.address = None
        self.phone = None
        self.roles = set()

    def _check_not_erased(self) -> None:
        if self.erased:
            raise UserErased(f"user {self.id} was erased")

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    def __repr__(self) -> str:  # never print personal data in logs or tracebacks
        return f"User(id={self.id}, version={self.version})"
