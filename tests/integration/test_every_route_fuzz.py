"""A fuzz target over every route of both APIs (issue 14, "What to build"): generated headers,
query strings and bodies, deep nesting included, on the real apps over the real servers.
Whatever arrives, the answer is never a 5xx, and an error is a problem body.

The schemathesis target (``test_command_api_fuzz.py``) follows the command API's schema;
this one ignores schemas on purpose: it sends what a careless or hostile client sends to
each route of both apps, as anonymous, customer and admin callers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import hypothesis
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st

from domain.identity import Role
from infra.settings import Settings
from tests.support.apis import both_apis, without_rate_limits
from tests.support.auth import bearer, route_table
from tests.support.fuzzing import repeatable

pytestmark = pytest.mark.integration

# Headers a client can send (latin-1 printable, as HTTP allows), on the names we read or store.
_HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=300,
)
_HEADER_NAMES = st.sampled_from(
    [
        "Idempotency-Key",
        "If-Match",
        "X-Correlation-Id",
        "Content-Type",
        "Accept",
        "Authorization",
        "X-Forwarded-For",
        "traceparent",
        "X-Anything",
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def deep_json(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(20, 5_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    inner = draw(st.sampled_from(["1", '"x"', "[]", "{}"]))
    return (opener * depth + inner + closer * depth).encode()


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes | None, str | None]:
    kind = draw(st.sampled_from(["none", "json", "deep", "bytes", "form"]))
    if kind == "none":
        return None, None
    if kind == "json":
        return json.dumps(draw(_JSON)).encode(), "application/json"
    if kind == "deep":
        return draw(deep_json()), "application/json"
    if kind == "form":
        pairs = draw(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4))
        return "&".join(f"{k}={v}" for k, v in pairs.items()).encode(), (
            "application/x-www-form-urlencoded"
        )
    return draw(st.binary(max_size=200)), draw(st.sampled_from(["application/json", "text/plain"]))


_PATH_VALUES = st.sampled_from(
    [str(uuid4()), "HP-1000", "x", "%00", "..", "9" * 40, "%E2%80%AE", "a%2Fb", "-1"]
)
_QUERY = st.dictionaries(
    st.sampled_from(["after", "limit", "cursor", "q", "from", "to", "min_price", "format", "x"]),
    st.text(max_size=40) | st.integers().map(str),
    max_size=4,
)


@pytest.fixture
def clients(settings: Settings) -> Iterator[dict[str, tuple[FastAPI, TestClient]]]:
    yield from both_apis(without_rate_limits(settings))


def test_no_request_to_any_route_of_either_api_is_a_server_error(
    clients: dict[str, tuple[FastAPI, TestClient]], settings: Settings
) -> None:
    routes = [
        (api, method, path)
        for api, (app, _) in clients.items()
        for method, path, _ in route_table(app)
        if not path.startswith(("/docs", "/redoc", "/openapi"))
    ]
    assert len(routes) > 50
    callers = [{}, bearer(settings, uuid4(), Role.CUSTOMER), bearer(settings, uuid4(), Role.ADMIN)]
    failures: list[str] = []

    @hypothesis.given(
        route=st.sampled_from(routes),
        caller=st.sampled_from(callers),
        path_value=_PATH_VALUES,
        query=_QUERY,
        headers=st.dictionaries(_HEADER_NAMES, _HEADER_TEXT, max_size=3),
        body=bodies(),
    )
    @repeatable(max_examples=400)
    def one_request(
        route: tuple[str, str, str],
        caller: dict[str, str],
        path_value: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: tuple[bytes | None, str | None],
    ) -> None:
        api, method, template = route
        client = clients[api][1]
        path = re.sub(r"{\w+(:\w+)?}", path_value, template)
        content, content_type = body
        # Raw latin-1 bytes, as a client may put on the wire (httpx sends str as ASCII only).
        sent: dict[str, Any] = {**caller, **{k: v.encode("latin-1") for k, v in headers.items()}}
        if content_type and not any(k.lower() == "content-type" for k in headers):
            sent["Content-Type"] = content_type
        response = client.request(method, path, params=query, content=content, headers=sent)
        where = f"{api} {method} {path} {query} {list(headers)} body={str(content)[:60]}"
        if response.status_code >= 500:
            failures.append(f"{where}: {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400 and (
            response.headers.get("content-type") != "application/problem+json"
        ):
            failures.append(f"{where}: {response.status_code} not a problem body")

    one_request()
    assert not failures, "\n".join(failures[:20])
