"""Scenario: instrumentation. What tracing and JSON log lines cost a command: the same
``POST /stock/{sku}/receipts`` load as ``http-commands`` on two command APIs of one namespace,

- **on**: tracing exporting over OTLP/HTTP (the SDK's defaults: batched, 5 s schedule) to a
  receiver running inside the bench, which decodes and counts the spans and discards them,
  with the Postgres and Redis child spans; JSON log lines;
- **off**: tracing off (no SDK, drivers not patched), readable text log lines.

Metrics are on in both: they have no switch (the HTTP middleware, the commands' observer and
the idempotency store all count), so this measures tracing and JSON logs on top of them.

Run-to-run noise on a shared 2-core machine is ±20 %, which would hide a 5 % cost: both
servers stay up, and the load goes to them in turn in short runs, A B B A A B B A …, so that
drift (the events table grows, the other tenant's load comes and goes) falls on both alike.
The figures are the medians of each side's runs and their ratio, and the median of the ratios
of the runs side by side. Throughput on a loaded machine moves with everything else running;
the CPU time each server spends per command (its own threads, the span exporter's included,
from /proc) moves much less, so it is reported beside it. Nothing is asserted."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import httpx

from benchmarks.harness import Bench, Row, free_port, ratio, say
from benchmarks.http_commands import generator_note, receipts
from benchmarks.load import LoadResult, Target, run_load
from domain.identity import Role
from infra import bootstrap
from infra.embedded.otlp import OtlpReceiver
from infra.platform import service_env
from infra.settings import Settings

_STARTUP_SECONDS = 90.0


def _env(settings: Settings, *, traced: bool, otlp: str) -> dict[str, str]:
    # Nothing of the bench's own environment may switch tracing on the "off" side.
    env = {k: v for k, v in service_env(settings).items() if not k.startswith("OTEL_")}
    if traced:
        return {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "SHOP_LOG_FORMAT": "json"}
    return {**env, "SHOP_LOG_FORMAT": "text"}


def _start(bench: Bench, name: str, settings: Settings, env: dict[str, str]) -> tuple[str, int]:
    """The API's URL and process id (one uvicorn worker: the server runs in that process)."""
    process = bench.supervisor.start(
        name, [sys.executable, "-m", "infra.cli", "command-api"], env=env, signal_group=False
    )
    url = f"http://{settings.api_host}:{settings.command_api_port}"
    bench.supervisor.wait_healthy(
        name, lambda: httpx.get(f"{url}/readyz", timeout=2).status_code == 200, _STARTUP_SECONDS
    )
    return url, process.pid


def _cpu_seconds(pid: int) -> float:
    """User and system time of every thread of the process so far (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _order(pairs: int) -> list[bool]:
    """True for "on": A B, B A, A B, … so that neither side always goes first."""
    order: list[bool] = []
    for pair in range(pairs):
        order += [True, False] if pair % 2 == 0 else [False, True]
    return order


def run(bench: Bench) -> list[Row]:
    options = bench.options
    pairs = 2 if options.smoke else 8
    seconds = max(1, round(options.duration / 2))  # wrk measures whole seconds
    shared = bench.namespace("bi")
    on_settings = shared.model_copy(update={"command_api_port": free_port()})
    off_settings = shared.model_copy(update={"command_api_port": free_port()})
    target: Target = receipts(
        {"Authorization": f"Bearer {bootstrap.operator_token(shared, Role.ADMIN)}"},
        50 if options.smoke else 2000,
    )
    names = {True: "bench-instrumented", False: "bench-uninstrumented"}
    runs: dict[bool, list[LoadResult]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}  # seconds per command, by run
    with OtlpReceiver(keep=False) as receiver:
        try:
            say("instrumentation: starting a traced and an untraced command API")
            on_env = _env(on_settings, traced=True, otlp=receiver.endpoint)
            off_env = _env(off_settings, traced=False, otlp="")
            servers = {
                True: _start(bench, names[True], on_settings, on_env),
                False: _start(bench, names[False], off_settings, off_env),
            }

            def load(traced: bool, length: float) -> LoadResult:
                return run_load(
                    servers[traced][0],
                    target,
                    concurrency=options.concurrency,
                    duration=length,
                    generator=options.load,
                )

            # Pools, caches and the aggregate cache of both warmed alike, not counted.
            commands = load(True, max(1.0, options.warmup)).count
            load(False, max(1.0, options.warmup))
            for traced in _order(pairs):
                say(f"instrumentation: {'on' if traced else 'off'}, {seconds} s")
                before = _cpu_seconds(servers[traced][1])
                result = load(traced, seconds)
                runs[traced].append(result)
                cpu[traced].append(
                    (_cpu_seconds(servers[traced][1]) - before) / max(result.count, 1)
                )
            commands += sum(r.count for r in runs[True])
        finally:
            for name in names.values():
                if name in bench.supervisor.names():
                    bench.supervisor.stop(name)  # the traced one flushes its spans at exit
        spans = receiver.span_count
    if not spans:
        raise RuntimeError("the traced command API exported no span: the comparison is void")

    on = statistics.median(r.rate for r in runs[True])
    off = statistics.median(r.rate for r in runs[False])
    # The two runs of a pair share the machine's state of the moment.
    paired = statistics.median(
        a.rate / b.rate for a, b in zip(runs[True], runs[False], strict=True) if b.rate
    )
    cpu_on, cpu_off = (statistics.median(cpu[side]) * 1000 for side in (True, False))
    p50_on, p50_off = (
        statistics.median(r.p50 for r in runs[side]) * 1000 for side in (True, False)
    )
    errors = sum(r.errors for side in runs.values() for r in side)
    spread = ", ".join(
        f"{'on' if traced else 'off'} {min(r.rate for r in runs[traced]):,.0f}"
        f"-{max(r.rate for r in runs[traced]):,.0f}"
        for traced in (True, False)
    )
    return [
        Row(
            "receipts/s, tracing + JSON logs / off",
            f"{on:,.0f} req/s, p50 {p50_on:.1f} ms",
            f"{off:,.0f} req/s, p50 {p50_off:.1f} ms",
            ratio(on, off),
            f"POST /stock/{{sku}}/receipts; medians of {pairs} runs of {seconds} s per side in"
            f" turn (A B B A…), range {spread} req/s; median of the paired ratios"
            f" {paired:.2f}; metrics on in both; {options.concurrency} connections"
            + (f"; {errors} errors" if errors else "")
            + f"; {generator_note(options.load)}",
        ),
        Row(
            "server CPU per receipt, tracing + JSON logs / off",
            f"{cpu_on:.2f} ms",
            f"{cpu_off:.2f} ms",
            ratio(cpu_on, cpu_off),
            f"user + system time of the command API process (the span exporter's thread"
            f" included) over the commands it answered, median of the runs; about"
            f" {spans / max(commands, 1):.1f} spans exported per command ({spans:,} in all,"
            f" decoded and dropped by a receiver in the bench process)",
        ),
    ]
