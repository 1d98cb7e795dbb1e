"""`shop run` tells when a child turns unhealthy (and healthy again): every child's
``/readyz`` is probed every few seconds and each change is said once on stderr."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping

import httpx


def readiness_urls(host: str, ports: Mapping[str, int]) -> dict[str, str]:
    return {name: f"http://{host}:{port}/readyz" for name, port in ports.items()}


def _state(url: str) -> tuple[bool, str]:
    try:
        response = httpx.get(url, timeout=3)
    except httpx.HTTPError as e:
        return False, f"no answer ({type(e).__name__})"
    if response.status_code == 200:
        return True, "ready"
    try:
        reason = str(response.json().get("reason", ""))
    except ValueError:
        reason = response.text[:200]
    return False, f"{response.status_code}: {reason}"


def watch_health(
    urls: Mapping[str, str], stop: threading.Event, every: float = 3.0
) -> threading.Thread:
    """Start a daemon thread probing ``urls``; returns it."""
    healthy = dict.fromkeys(urls, True)

    def loop() -> None:
        while not stop.wait(every):
            for name, url in urls.items():
                ok, detail = _state(url)
                if ok != healthy[name]:
                    healthy[name] = ok
                    said = "healthy again" if ok else f"UNHEALTHY ({detail})"
                    print(f"{name}: {said}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=loop, name="health-watch", daemon=True)
    thread.start()
    return thread
