"""Domain errors: small named exceptions with a stable code the HTTP layer can expose."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule said no. ``code`` is stable; clients may branch on it."""

    code = "domain_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not_found"


class AlreadyExists(DomainError):
    code = "already_exists"


class RuleViolated(DomainError):
    code = "rule_violated"


class Conflict(DomainError):
    """The request is valid but the aggregate's current state refuses it (HTTP 409)."""

    code = "conflict"
