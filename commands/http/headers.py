"""Request headers every command endpoint understands."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

CorrelationId = Annotated[
    str | None,
    Header(max_length=100, pattern=r"^[A-Za-z0-9._:-]+$", description="traces a request chain"),
]
IfMatch = Annotated[
    str | None,
    Header(pattern=r'^(W/)?"?\d{1,18}"?$', description="the version you expect: 409 if stale"),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=8,
        max_length=100,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="a repeat with the same key returns the first response and changes nothing",
    ),
]


def expected_version(if_match: str | None) -> int | None:
    return None if if_match is None else int(if_match.removeprefix("W/").strip('"'))
