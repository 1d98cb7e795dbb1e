"""Identity command models: what a client may send, validated before the domain sees it."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, StringConstraints

from commands.models import Command
from domain.identity import Address, Currency, InvalidEmail, Language, Preferences, Role
from domain.identity import normalise_email as domain_normalise_email
from domain.identity.user import MAX_ADDRESS_FIELD_LENGTH, MAX_DISPLAY_NAME_LENGTH


def _email(value: str) -> str:
    try:
        return domain_normalise_email(value)
    except InvalidEmail as e:
        raise ValueError(e.detail) from None


Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=320),
    AfterValidator(_email),
    Field(description="stored lower-cased; one user per address"),
]
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_DISPLAY_NAME_LENGTH),
]
Phone = Annotated[
    str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$"), Field(description="E.164")
]
AddressLine = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ADDRESS_FIELD_LENGTH),
]


class PostalAddress(Command):
    line1: AddressLine
    line2: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=MAX_ADDRESS_FIELD_LENGTH)
    ] = ""
    postal_code: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$")
    ]
    city: AddressLine
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2"
    )

    def to_address(self) -> Address:
        return Address(self.line1, self.postal_code, self.city, self.country, self.line2)


# OWASP ASVS 2.1: at least 12 characters, up to 128, any characters, no composition rules.
Password = Annotated[
    SecretStr,
    Field(min_length=12, max_length=128, description="stored only as an argon2id hash"),
]


class RegisterUser(Command):
    email: Email
    password: Password
    display_name: DisplayName
    address: PostalAddress | None = None
    phone: Phone | None = None


class ChangeProfile(Command):
    """The whole profile: a field left out (or null) is removed."""

    display_name: DisplayName
    address: PostalAddress | None = None
    phone: Phone | None = None


class SetPreferences(Command):
    marketing_opt_in: bool
    language: Annotated[Language, Field(strict=False)]
    currency: Annotated[Currency, Field(strict=False)]

    def to_preferences(self) -> Preferences:
        return Preferences(self.marketing_opt_in, self.language, self.currency)


class Login(Command):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[SecretStr, Field(min_length=1, max_length=128)]


class RefreshToken(Command):
    refresh_token: Annotated[str, StringConstraints(min_length=20, max_length=2000)]


class AssignRole(Command):
    role: Annotated[Role, Field(strict=False)]
