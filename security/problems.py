"""The one kind of problem both APIs raise besides domain errors: a status and a stable code.

``infra.http.domain_status`` maps every ``DomainError`` the same way on every endpoint (404,
409 or 422). Other answers belong to particular endpoints or checks (401, 403 and 429 of the
access rules, 402 for a declined payment, 428 for a missing Idempotency-Key, 503/504 for a
processor that does not answer, a read model's 404 that carries its consistency headers):
those raise ``Problem``, whose ``code`` reaches the problem+json body that ``infra.http``
renders. It lives here because ``commands`` and ``read_api`` may both import ``security``
but neither the other, nor ``infra`` (tests/unit/test_layering.py).
"""

from __future__ import annotations

from fastapi import HTTPException

from domain.errors import DomainError


class Problem(HTTPException):
    """An answer with a status of its own and a stable ``code`` for its body (a subclass may
    name its code once, as a class attribute). Given a domain error, its code and detail."""

    code: str = ""  # none: infra.http answers with http_<status>, as for a plain HTTPException

    def __init__(
        self,
        status_code: int,
        detail: str | DomainError,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        if isinstance(detail, DomainError):
            code = code or detail.code
            detail = detail.detail
        super().__init__(status_code, detail, headers)
        if code is not None:
            self.code = code
