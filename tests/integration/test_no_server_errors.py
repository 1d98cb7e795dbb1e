"""What a client sends never makes either API answer 500 (issue 14, point 2)."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from domain.identity import Role
from infra.settings import Settings
from tests.support.apis import api_fixture
from tests.support.auth import bearer

pytestmark = [pytest.mark.integration, pytest.mark.shared_namespace]


command_api = api_fixture("command", as_a_server=True)
read_api = api_fixture("read", admin=True, as_a_server=True)


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/auth/login", "/users", "/carts"])
def test_a_deeply_nested_json_body_is_a_problem_not_a_recursion_error(
    command_api: TestClient, path: str
) -> None:
    deep = b"[" * 20_000 + b"]" * 20_000
    response = command_api.post(path, content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "json_too_deep"


@pytest.mark.parametrize(
    "params",
    [
        {"min_price": str(2**64)},
        {"max_price": str(2**63)},
        {"cursor": _cursor('{"a": 1}')},
        {"cursor": _cursor("[" * 600 + "]" * 600)},
        {"cursor": _cursor('[{"x": 1}]')},
        {"cursor": _cursor(f"[{2**70}]")},
        {"cursor": "%%%"},
    ],
)
def test_out_of_range_prices_and_malformed_cursors_are_refused(
    read_api: TestClient, params: dict[str, str]
) -> None:
    response = read_api.get("/products/search", params=params)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    "path",
    ["/analytics/daily-sales?category=a%00b", "/audit-log?action=a%00b", "/audit-log?actor=%00"],
)
def test_nul_bytes_in_filters_are_refused(
    read_api: TestClient, settings: Settings, path: str
) -> None:
    staff = bearer(settings, None, Role.AUDITOR, Role.ANALYST)
    assert read_api.get(path, headers=staff).status_code == 422
