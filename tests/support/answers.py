"""What the command API answers, checked: a creation (201) or a refusal, a problem body
(RFC 9457, security/problems.py)."""

from __future__ import annotations

from typing import Any

import httpx

from commands.base import ShopApplication
from tests.support.applications import head


def assert_created(
    response: httpx.Response, app: ShopApplication, collection: str | None = None
) -> dict[str, Any]:
    """Asserts that ``response`` is a 201 for a new aggregate of ``app``: version 1 (in the
    body and the ETag), at the head of the log, and, where given, located in ``collection``
    (``"/carts"``). Returns the body."""
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["version"] == 1
    assert body["position"] == head(app)
    assert response.headers["etag"] == '"1"'
    if collection is not None:
        assert response.headers["location"].endswith(f"{collection}/{body['id']}")
    return body


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
