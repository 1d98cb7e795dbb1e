"""What a refused request answers: a problem body (RFC 9457, security/problems.py)."""

from __future__ import annotations

from typing import Any

import httpx


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None, *, field: str | None = None
) -> dict[str, Any]:
    """Asserts that ``response`` is a problem with ``status`` and, where given, with ``code``
    and an error on ``field`` (or on a field inside it); returns the problem body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    if code is not None:
        assert problem["code"] == code, problem
    if field is not None:
        assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    return problem
