"""Scenario: command → visible. A price change through the command API, then
``GET /products/{id}?after=<position>`` on the read API until the new price shows, with the
relay and the worker running as real processes: at low load (one change at a time) and at
half of the maximum command throughput (receipts sent open loop in the background)."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from benchmarks import http_commands, reads
from benchmarks.harness import Bench, Platform, Row, ms, percentile, ratio, say
from benchmarks.load import LoadResult

_GIVE_UP_SECONDS = 15.0


@dataclass
class Samples:
    visible: list[float] = field(default_factory=list)  # after the command's answer
    plain_get: list[float] = field(default_factory=list)  # one GET without after=
    lost: int = 0  # not visible within _GIVE_UP_SECONDS


class PriceChanges:
    def __init__(self, platform: Platform, ids: list[str]) -> None:
        self.ids = ids
        self.commands = httpx.Client(
            base_url=platform.command_url, headers=platform.admin_headers(), timeout=30
        )
        self.reads = httpx.Client(base_url=platform.read_url, timeout=30)
        self.cents = random.randrange(10_000, 90_000)  # noqa: S311 - not cryptography

    def close(self) -> None:
        self.commands.close()
        self.reads.close()

    def sample(self, into: Samples) -> None:
        product = random.choice(self.ids)  # noqa: S311
        self.cents += 1
        amount = f"{self.cents // 100}.{self.cents % 100:02d}"
        answer = self.commands.post(
            f"/products/{product}/price", json={"price": {"amount": amount, "currency": "EUR"}}
        )
        answer.raise_for_status()
        answered = time.perf_counter()
        position = answer.json()["position"]
        while time.perf_counter() - answered < _GIVE_UP_SECONDS:
            shown = self.reads.get(f"/products/{product}", params={"after": position})
            if shown.status_code == 200 and shown.json()["price"]["minor"] == self.cents:
                into.visible.append(time.perf_counter() - answered)
                break
        else:
            into.lost += 1
            return
        started = time.perf_counter()
        self.reads.get(f"/products/{product}").raise_for_status()
        into.plain_get.append(time.perf_counter() - started)

    def for_seconds(self, seconds: float, at_least: int, still: threading.Event | None) -> Samples:
        samples = Samples()
        until = time.perf_counter() + seconds
        while len(samples.visible) < at_least or (
            time.perf_counter() < until and (still is None or still.is_set())
        ):
            self.sample(samples)
        return samples


def _row(label: str, samples: Samples) -> Row:
    p50, get_p50 = percentile(samples.visible, 50), percentile(samples.plain_get, 50)
    lost = f", {samples.lost} never visible" if samples.lost else ""
    return Row(
        label,
        f"p50 {ms(p50)}, p99 {ms(percentile(samples.visible, 99))}{lost}",
        f"GET p50 {ms(get_p50)}",
        ratio(p50, get_p50),
        f"{len(samples.visible)} changes; ratio of latencies: visible p50 / one plain GET p50",
    )


def run(bench: Bench) -> list[Row]:
    platform = bench.platform()
    ids = reads.product_ids(platform)
    at_least = 3 if bench.options.smoke else 20
    changes = PriceChanges(platform, ids)
    try:
        changes.sample(Samples())  # warm-up: connections, the worker's first batch
        say("visibility: low load")
        low = changes.for_seconds(bench.options.duration, at_least, None)
        full_rate = bench.figures.get("command_rate")
        if not full_rate:
            say("visibility: measuring the maximum command throughput first")
            full_rate = http_commands.measure_command_api(bench).rate
        half = full_rate / 2
        say(f"visibility: under {half:.0f} receipts/s in the background")
        background: list[LoadResult] = []
        running = threading.Event()
        running.set()

        def load() -> None:
            try:
                background.append(http_commands.measure_command_api(bench, rate=half))
            finally:
                running.clear()

        thread = threading.Thread(target=load)
        thread.start()
        time.sleep(bench.options.warmup)
        loaded = changes.for_seconds(bench.options.duration, at_least, running)
        thread.join()
    finally:
        changes.close()
    rows = [
        _row("price change → visible, low load", low),
        _row(f"price change → visible, {half:.0f} cmd/s", loaded),
    ]
    if background:
        receipts = background[0]
        rows.append(
            Row(
                f"receipt latency at {half:.0f} cmd/s",
                f"p99 {ms(receipts.p99)} ({receipts.rate:.0f} req/s sent)",
                f"p50 {ms(receipts.p50)}",
                ratio(receipts.p99, receipts.p50),
                "half of the measured maximum, open loop; ratio: p99 / p50",
            )
        )
    return rows
