"""Statuses that are not domain-wide: an endpoint answers a domain error with its own status.

``infra.http.domain_status`` maps every ``DomainError`` the same way on every endpoint
(404, 409 or 422). Some answers belong to particular endpoints only (402 for a declined
payment, 428 for a missing Idempotency-Key, 503/504 for a payment processor that does not
answer): those routers raise ``Problem``, which keeps the error's ``code`` for the body.
"""

from __future__ import annotations

from fastapi import HTTPException

from domain.errors import DomainError


class Problem(HTTPException):
    """A domain error answered with a status of its own; ``code`` reaches the problem body."""

    def __init__(
        self, status_code: int, error: DomainError, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code, error.detail, headers)
        self.code = error.code


class IdempotencyKeyRequired(DomainError):
    """The command needs an ``Idempotency-Key`` header (answered with 428)."""

    code = "idempotency_key_required"
