"""Request headers every command endpoint understands."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Header, Response

from commands.base import CommandResult

Result = TypeVar("Result", bound=CommandResult | dict[str, Any])

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


def with_etag(response: Response, result: Result) -> Result:
    """The result, its version set as the ETag. A dict is a keyed command's first response."""
    version = result["version"] if isinstance(result, dict) else result.version
    response.headers["ETag"] = f'"{version}"'
    return result
