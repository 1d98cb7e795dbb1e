"""Scenario: HTTP commands. ``POST /stock/{sku}/receipts`` on the real command API (a fresh
Idempotency-Key each, an admin's token, rate limits raised out of the way) against a bare
FastAPI app with the same route shape, the same uvicorn settings and no I/O."""

from __future__ import annotations

import json
import sys

import httpx

from benchmarks.harness import Bench, Row, free_port, ratio, say
from benchmarks.load import LoadResult, Target, generator_name, load_for


def generator_note(wanted: str) -> str:
    return (
        f"load from {generator_name(wanted)} on the same cores as the servers: it competes for CPU"
    )


def receipts(headers: dict[str, str], skus: int) -> Target:
    """Receiving one unit of a random SKU among ``skus``, each with its own key."""
    return Target(
        "POST",
        [f"/stock/BENCH-{n:05d}/receipts" for n in range(skus)],
        {**headers, "Content-Type": "application/json"},
        json.dumps({"quantity": 1}).encode(),
        fresh_key="Idempotency-Key",
    )


def _skus(bench: Bench) -> int:
    return 50 if bench.options.smoke else 2000


def measure_command_api(bench: Bench, rate: float | None = None) -> LoadResult:
    platform = bench.platform()
    target = receipts(platform.admin_headers(), _skus(bench))
    return load_for(bench.options, platform.command_url, target, rate)


def measure_bare_app(bench: Bench) -> LoadResult:
    port = free_port()
    name = "bench-bare-app"
    bench.supervisor.start(name, [sys.executable, "-m", "benchmarks.bare_app", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        bench.supervisor.wait_healthy(
            name, lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, 30
        )
        target = receipts({"Authorization": "Bearer not-checked"}, _skus(bench))
        return load_for(bench.options, url, target)
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
            f"{bench.options.concurrency} connections; {generator_note(bench.options.load)}",
        )
    ]
