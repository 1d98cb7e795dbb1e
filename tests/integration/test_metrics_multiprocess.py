"""With several uvicorn workers, /metrics combines every worker's counts (ADR 0029)."""

from __future__ import annotations

import httpx
import pytest

from infra.embedded.supervisor import Supervisor
from infra.settings import Settings
from tests.support.metrics import value
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration


def test_every_worker_process_is_counted_in_each_scrape(
    settings: Settings, processes: Supervisor
) -> None:
    two = settings.model_copy(update={"api_workers": 2})
    start(processes, two, "command-api")
    base = f"http://{two.api_host}:{two.command_api_port}"
    # Three processes start (uvicorn's parent and two workers, each importing the whole
    # app): on two loaded cores that takes longer than one API's start.
    eventually(lambda: _ready(base), 180, "command API ready")
    requests = 40
    with httpx.Client(base_url=base, timeout=10) as client:
        for _ in range(requests):  # new connections, so both workers get some
            assert client.get("/healthz", headers={"Connection": "close"}).status_code == 200
    for _ in range(5):  # whichever worker answers the scrape, it sees all of them
        counted = value(f"{base}/metrics", "shop_http_requests_total", route="/healthz")
        assert counted >= requests


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
