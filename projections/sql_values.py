"""Reading payload values that go into Postgres read models: checked, so a malformed event is
refused by the projection's ``check`` (and dead-lettered) instead of failing in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def money(value: Any) -> tuple[int, str]:
    """``{"minor": ..., "currency": ...}`` as (minor units, currency)."""
    if not isinstance(value, dict):
        raise TypeError(f"money must be an object, not {value!r}")
    return integer(value["minor"]), text(value["currency"])


def integer(value: Any) -> int:
    """An integer Postgres can store as bigint; anything else could never be written."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, not {value!r}")
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"{value} does not fit in 64 bits")
    return value


def text(value: Any) -> str:
    """A string Postgres accepts: text and jsonb refuse NUL, which a client may have sent."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {value!r}")
    return value.replace("\x00", "\ufffd")


def timestamp(value: str) -> datetime:
    """An ISO 8601 time with its UTC offset."""
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError(f"occurred_at {value!r} has no UTC offset")
    return at
