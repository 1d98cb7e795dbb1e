"""Scenario: HTTP commands. ``POST /stock/{sku}/receipts`` on the real command API (a fresh
Idempotency-Key each, an admin's token, rate limits raised out of the way) against a bare
FastAPI app with the same route shape, the same uvicorn settings and no I/O."""

from __future__ import annotations

import json
import random
import sys
import uuid
from collections.abc import Callable

import httpx

from benchmarks.harness import Bench, Row, free_port, ratio, say
from benchmarks.load import LoadResult, Request, run_load

GENERATOR_NOTE = "Python load generator on the same 2 cores: it competes for CPU"


def receipts(headers: dict[str, str], skus: int) -> Callable[[], Request]:
    """Requests receiving one unit of a random SKU among ``skus``, each with its own key."""
    body = json.dumps({"quantity": 1}).encode()
    names = [f"BENCH-{n:05d}" for n in range(skus)]

    def make() -> Request:
        return Request(
            "POST",
            f"/stock/{random.choice(names)}/receipts",  # noqa: S311 - not cryptography
            {
                **headers,
                "Content-Type": "application/json",
                "Idempotency-Key": f"bench-{uuid.uuid4().hex}",
            },
            body,
        )

    return make


def measure_command_api(bench: Bench, rate: float | None = None) -> LoadResult:
    platform = bench.platform()
    skus = 50 if bench.options.smoke else 2000
    return run_load(
        platform.command_url,
        receipts(platform.admin_headers(), skus),
        concurrency=bench.options.concurrency,
        duration=bench.options.duration,
        warmup=bench.options.warmup,
        rate=rate,
    )


def measure_bare_app(bench: Bench) -> LoadResult:
    port = free_port()
    name = "bench-bare-app"
    bench.supervisor.start(name, [sys.executable, "-m", "benchmarks.bare_app", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        bench.supervisor.wait_healthy(
            name, lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, 30
        )
        return run_load(
            url,
            receipts({"Authorization": "Bearer x"}, 2000),
            concurrency=bench.options.concurrency,
            duration=bench.options.duration,
            warmup=bench.options.warmup,
        )
    finally:
        bench.supervisor.stop(name)


def run(bench: Bench) -> list[Row]:
    say("http-commands: command API")
    shop = measure_command_api(bench)
    bench.figures["command_rate"] = shop.rate
    say("http-commands: bare FastAPI app")
    bare = measure_bare_app(bench)
    return [
        Row(
            "POST /stock/{sku}/receipts",
            shop.summary(),
            bare.summary(),
            ratio(shop.rate, bare.rate),
            f"{bench.options.concurrency} connections; {GENERATOR_NOTE}",
        )
    ]
