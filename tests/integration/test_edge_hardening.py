"""The edge as uvicorn serves it: forwarded addresses only from trusted proxies, and log
lines that a client cannot forge (issue 14)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from infra.embedded.supervisor import Supervisor
from infra.platform import service_env
from infra.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def served(settings: Settings, processes: Supervisor, tmp_path: Path) -> str:
    processes.start(
        "command-api",
        [sys.executable, "-m", "infra.cli", "command-api"],
        env=service_env(settings),
        signal_group=False,
    )
    url = f"http://{settings.api_host}:{settings.command_api_port}"

    def ready() -> bool:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200

    processes.wait_healthy("command-api", ready, 60)
    return url


def test_x_forwarded_for_from_an_untrusted_peer_does_not_escape_the_address_limit(
    served: str,
) -> None:
    statuses = []
    for attempt in range(7):
        response = httpx.post(
            f"{served}/auth/login",
            json={"email": f"x{uuid4().hex[:8]}@example.org", "password": "wrong password"},
            headers={"X-Forwarded-For": f"203.0.113.{attempt}"},
        )
        statuses.append(response.status_code)
    assert 429 in statuses, statuses


def test_control_characters_in_a_path_cannot_forge_an_access_log_line(
    served: str, tmp_path: Path
) -> None:
    forged = '127.0.0.1:1 - "GET /forged HTTP/1.1" 200'
    path = "/nowhere%0D%0A" + forged.replace(" ", "%20").replace('"', "%22")
    httpx.get(served + path + "%00%E2%80%AE")
    httpx.get(served + "/nowhere%250D%250Aforged-twice")
    log = tmp_path / "logs" / "command-api.log"
    deadline = time.monotonic() + 5
    while "forged-twice" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log.read_text()
    assert "forged-twice" in text
    for line in text.splitlines():
        assert not line.startswith(forged), line
        assert not line.startswith("forged-twice"), line
    assert "\x00" not in text
    assert "\u202e" not in text
