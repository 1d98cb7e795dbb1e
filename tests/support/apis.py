"""Both APIs in process (FastAPI's TestClient) on the test's namespace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from infra import apps
from infra.settings import Settings
from tests.support.auth import as_admin

Api = Literal["command", "read"]


def in_process(
    settings: Settings, api: Api, *, admin: bool = False, as_a_server: bool = False
) -> Iterator[TestClient]:
    """A fixture's body: the API in process, closed when the test is done.

    ``admin``: every call is signed in as an admin (else anonymous, the test adds its own
    credentials). ``as_a_server``: an unhandled error is answered 500, as the real server
    would, instead of being raised into the test, for tests that look for server errors.
    """
    app = apps.command_api(settings) if api == "command" else apps.read_api(settings)
    headers = as_admin(settings) if admin else None
    with TestClient(app, headers=headers, raise_server_exceptions=not as_a_server) as client:
        yield client


def api_fixture(api: Api, *, admin: bool = False, as_a_server: bool = False) -> Any:
    """A fixture giving ``in_process(settings, api, ...)``, named by the module-level name
    it is assigned to (as pytest names fixtures): ``read_api = api_fixture("read")``."""

    def fixture(settings: Settings) -> Iterator[TestClient]:
        yield from in_process(settings, api, admin=admin, as_a_server=as_a_server)

    caller = "an admin" if admin else "anonymous"
    errors = ", server errors answered 500" if as_a_server else ""
    fixture.__doc__ = f"The {api} API in process, called as {caller}{errors}."
    return pytest.fixture(fixture)


def both_apis(settings: Settings) -> Iterator[dict[str, tuple[FastAPI, TestClient]]]:
    """A fixture's body: both apps on ``settings``, each with an anonymous client, by
    ``"command"`` and ``"read"``; server errors are answered 500, as a real server would."""
    command_api, read_api = apps.command_api(settings), apps.read_api(settings)
    with (
        TestClient(command_api, raise_server_exceptions=False) as command,
        TestClient(read_api, raise_server_exceptions=False) as read,
    ):
        yield {"command": (command_api, command), "read": (read_api, read)}


def without_rate_limits(settings: Settings) -> Settings:
    """``settings`` with every rate limit out of reach: for tests that make hundreds of calls
    from one address, where the limits are not under test."""
    out_of_reach = 10**6
    return settings.model_copy(
        update={
            "burst_per_address": out_of_reach,
            "burst_per_user": out_of_reach,
            "login_burst": out_of_reach,
            "registration_burst": out_of_reach,
        }
    )
