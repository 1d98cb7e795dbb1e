"""Property-based fuzzing of the command API from its own OpenAPI document.

Whatever a client sends, generated from the schema, the answer is never a server error:
invalid input is a 4xx problem body, valid input is processed. Requests go to the real
command API over the real event store; the schema is read from the same routes built over
in-memory stores, since it must exist before the test's fixtures do.
"""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from commands.http.app import create_command_api
from infra.bootstrap import REGISTRY
from infra.payments.sandbox import SandboxGateway
from tests.support.apis import api_fixture
from tests.support.fuzzing import repeatable

pytestmark = pytest.mark.integration


def _routes_only() -> FastAPI:
    in_memory: dict[str, Any] = {"env": {"PERSISTENCE_MODULE": "eventsourcing.popo"}}
    payments = {**in_memory, "gateway": SandboxGateway("fuzz-routes")}
    routers = [
        c.router(c.application(**(payments if name == "payments" else in_memory)), "")
        for name, c in REGISTRY.items()
    ]
    return create_command_api(routers, readiness=lambda: None)


schema = schemathesis.openapi.from_asgi("/openapi.json", _routes_only())


client = api_fixture("command", admin=True, as_a_server=True)


@schema.parametrize()
@repeatable(max_examples=15)
def test_no_request_makes_the_command_api_fail(case: Any, client: TestClient) -> None:
    # HTTP clients cannot send non-ASCII header values at all: nothing to test there.
    hypothesis.assume(all(str(v).isascii() for v in (case.headers or {}).values()))
    request = case.as_transport_kwargs(base_url="http://testserver")
    if not request.get("cookies"):
        request.pop("cookies", None)
    if isinstance(request.get("data"), str | bytes):
        request["content"] = request.pop("data")
    response = client.request(**request)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
