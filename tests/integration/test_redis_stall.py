"""A stalled Redis fails fast: 503 with Retry-After for what needs it, the rest unaffected
(issue 14, point 5). Redis is paused with DEBUG SLEEP, so it resumes by itself."""

from __future__ import annotations

import threading
import time
from uuid import uuid4

import pytest
import redis
from fastapi.testclient import TestClient

from infra.settings import Settings
from tests.support.apis import api_fixture

pytestmark = pytest.mark.integration

_PAUSE_SECONDS = 4


read_api = api_fixture("read", admin=True, as_a_server=True)


def _pause_redis(settings: Settings) -> threading.Thread:
    def sleep() -> None:
        client = redis.Redis.from_url(settings.redis_url)
        client.execute_command("DEBUG", "SLEEP", _PAUSE_SECONDS)  # type: ignore[no-untyped-call]
        client.close()

    pausing = threading.Thread(target=sleep)
    pausing.start()
    time.sleep(0.3)  # the server is inside DEBUG SLEEP now
    return pausing


def test_a_stalled_redis_answers_503_fast_and_leaves_the_rest_unaffected(
    read_api: TestClient, settings: Settings
) -> None:
    assert read_api.get(f"/carts/{uuid4()}").status_code == 404
    pausing = _pause_redis(settings)
    try:
        started = time.monotonic()
        cart = read_api.get(f"/carts/{uuid4()}")
        cart_seconds = time.monotonic() - started
        started = time.monotonic()
        health = read_api.get("/healthz")
        health_seconds = time.monotonic() - started
    finally:
        pausing.join()
    assert cart.status_code == 503, cart.text
    assert cart.headers["content-type"] == "application/problem+json"
    assert int(cart.headers["retry-after"]) >= 1
    assert cart_seconds < 2
    assert health.status_code == 200
    assert health_seconds < 2
    assert read_api.get(f"/carts/{uuid4()}").status_code == 404  # healed
