"""Scenario: a full rebuild. ``shop projections rebuild order-history`` (the CLI, as an
operator runs it) over a log of N orders events, against a raw pipeline over the same rows:
a server-side cursor over the events table and ``executemany`` into a plain table, in one
transaction as the rebuild does. Each runs as its own process; peak memory is its largest
sampled resident set (both import the same modules, so their baselines are alike)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass

from eventsourcing.persistence import StoredEvent

from benchmarks.harness import Bench, Row, ratio, say
from commands.orders.application import OrdersApplication
from domain.money import Money
from domain.orders import OrderLine
from infra import bootstrap
from infra.platform import service_env
from infra.settings import Settings

_INSERT_BATCH = 1000


@dataclass(frozen=True)
class Child:
    seconds: float
    peak_rss_mib: float


def make_log(settings: Settings, events: int) -> None:
    """``events`` OrderPlaced events: one placed for real, the rest stored copies of it
    under fresh order ids (they decode, decrypt and project like the original)."""
    app = bootstrap.application(settings, "orders")
    assert isinstance(app, OrdersApplication)
    try:
        line = OrderLine("BENCH-1", 1, Money(999, "EUR"))
        app.place_order(uuid.uuid4(), uuid.uuid4(), [line], None)
        (model,) = app.recorder.select_notifications(1, 1)
        left = events - 1
        while left > 0:
            batch = min(left, _INSERT_BATCH)
            copies = [StoredEvent(uuid.uuid4(), 1, model.topic, model.state) for _ in range(batch)]
            app.recorder.insert_events(copies)
            left -= batch
    finally:
        app.close()


def _resident_mib(pid: int) -> float:
    """The process's resident set now (VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB
    return 0.0


def _child(argv: list[str], settings: Settings) -> Child:
    """Run argv to its end; its wall time and its largest resident set, sampled every 50 ms.

    Not ``ru_maxrss`` (on Linux a child's counts the parent's memory it was forked from) nor
    VmHWM (a transient spike while importing, ~170 MiB, is higher than any rebuild's)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, env=service_env(settings), stdout=subprocess.DEVNULL, stderr=errors
        )
        peak = 0.0
        while process.poll() is None:
            with suppress(OSError, ValueError):  # it may end between poll and read
                peak = max(peak, _resident_mib(process.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {tail}")
    return Child(seconds, peak)


def run(bench: Bench) -> list[Row]:
    events = bench.options.rebuild_events
    settings = bench.namespace("br")
    say(f"rebuild: writing {events:,} orders events")
    make_log(settings, events)
    say("rebuild: shop projections rebuild order-history")
    cli = [sys.executable, "-m", "infra.cli", "projections", "rebuild", "order-history"]
    shop = _child(cli, settings)
    say("rebuild: raw select + executemany")
    raw = _child([sys.executable, "-m", "benchmarks.raw_rebuild"], settings)
    return [
        Row(
            f"rebuild order-history ({events:,} events)",
            f"{events / shop.seconds:,.0f} events/s, peak RSS {shop.peak_rss_mib:.0f} MiB",
            f"{events / raw.seconds:,.0f} rows/s, peak RSS {raw.peak_rss_mib:.0f} MiB",
            ratio(raw.seconds, shop.seconds),
            "whole process, start-up included; yardstick: server-side cursor + executemany",
        ),
        Row(
            "rebuild peak memory",
            f"{shop.peak_rss_mib:.0f} MiB",
            f"{raw.peak_rss_mib:.0f} MiB",
            ratio(shop.peak_rss_mib, raw.peak_rss_mib),
            "largest sampled resident set of each process (ratio: lower is better)",
        ),
    ]
