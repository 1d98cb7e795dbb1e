from domain.identity.user import (
    Address,
    Currency,
    InvalidEmail,
    InvalidProfile,
    Language,
    Preferences,
    Role,
    User,
    UserErased,
    normalise_email,
)

__all__ = [
    "Address",
    "Currency",
    "InvalidEmail",
    "InvalidProfile",
    "Language",
    "Preferences",
    "Role",
    "User",
    "UserErased",
    "normalise_email",
]
