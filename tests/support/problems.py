"""What the APIs answer to bad input: a problem document (RFC 9457) naming each bad field."""

from __future__ import annotations

import httpx


def assert_a_422_naming(response: httpx.Response, field: str) -> None:
    """``response`` is a 422 problem whose errors name ``field`` and no other."""
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]
