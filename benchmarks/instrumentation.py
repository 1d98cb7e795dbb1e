"""Scenario: instrumentation. What tracing and JSON log lines cost a command: the same
``POST /stock/{sku}/receipts`` load as ``http-commands`` on three command APIs of one
namespace,

- **on**: every trace exported over OTLP/HTTP (the SDK's defaults: batched, 5 s schedule) to
  a receiver running inside the bench, which decodes and counts the spans and discards them,
  with the Postgres and Redis child spans; JSON log lines;
- **sampled**: the same, keeping one new trace in ten (``parentbased_traceidratio``), as a
  busy deployment would;
- **off**: tracing off (no SDK, drivers not patched), readable text log lines.

Metrics are on in both: they have no switch (the HTTP middleware, the commands' observer and
the idempotency store all count), so this measures tracing and JSON logs on top of them.

Run-to-run noise on a shared 2-core machine is ±20 %, which would hide a 5 % cost: both
servers stay up, and the load goes to them in turn in short runs, the order rotating, so that
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


# The sides, each a command API of its own on the same namespace. "sampled" is how a busy
# deployment would trace: one new trace in ten (W3C parents' decisions kept), JSON logs.
ON, SAMPLED, OFF = "on", "sampled", "off"
SIDES = (ON, SAMPLED, OFF)
_SAMPLE_ONE_IN = 10


def _env(settings: Settings, side: str, otlp: str) -> dict[str, str]:
    # Nothing of the bench's own environment may switch tracing on the "off" side.
    env = {k: v for k, v in service_env(settings).items() if not k.startswith("OTEL_")}
    if side == OFF:
        return {**env, "SHOP_LOG_FORMAT": "text"}
    traced = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "SHOP_LOG_FORMAT": "json"}
    if side == SAMPLED:
        traced |= {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(1 / _SAMPLE_ONE_IN),
        }
    return traced


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


def _order(rounds: int) -> list[str]:
    """Every side once per round, the order rotating (on sampled off, sampled off on, …),
    so that no side always goes first or follows the same one."""
    return [SIDES[(r + i) % len(SIDES)] for r in range(rounds) for i in range(len(SIDES))]


def run(bench: Bench) -> list[Row]:
    options = bench.options
    rounds = 2 if options.smoke else 8
    seconds = max(1, round(options.duration / 2))  # wrk measures whole seconds
    shared = bench.namespace("bi")
    settings = {side: shared.model_copy(update={"command_api_port": free_port()}) for side in SIDES}
    target: Target = receipts(
        {"Authorization": f"Bearer {bootstrap.operator_token(shared, Role.ADMIN)}"},
        50 if options.smoke else 2000,
    )
    names = {side: f"bench-instrumentation-{side}" for side in SIDES}
    runs: dict[str, list[LoadResult]] = {side: [] for side in SIDES}
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}  # seconds per command, by run
    with OtlpReceiver(keep=False) as receiver:
        try:
            say("instrumentation: starting a traced, a sampled and an untraced command API")
            servers = {
                side: _start(
                    bench,
                    names[side],
                    settings[side],
                    _env(settings[side], side, receiver.endpoint),
                )
                for side in SIDES
            }

            def load(side: str, length: float) -> LoadResult:
                return run_load(
                    servers[side][0],
                    target,
                    concurrency=options.concurrency,
                    duration=length,
                    generator=options.load,
                )

            # Pools, caches and the aggregate cache of each warmed alike, not counted.
            traced_commands = 0
            for side in SIDES:
                warm = load(side, max(1.0, options.warmup))
                traced_commands += warm.count if side == ON else 0
            for side in _order(rounds):
                say(f"instrumentation: {side}, {seconds} s")
                before = _cpu_seconds(servers[side][1])
                result = load(side, seconds)
                runs[side].append(result)
                cpu[side].append((_cpu_seconds(servers[side][1]) - before) / max(result.count, 1))
            traced_commands += sum(r.count for r in runs[ON])
            sampled_commands = sum(r.count for r in runs[SAMPLED])
        finally:
            for name in names.values():
                if name in bench.supervisor.names():
                    bench.supervisor.stop(name)  # the traced ones flush their spans at exit
        spans = receiver.span_count
    if not spans:
        raise RuntimeError("the traced command API exported no span: the comparison is void")

    rate = {side: statistics.median(r.rate for r in runs[side]) for side in SIDES}
    p50 = {side: statistics.median(r.p50 for r in runs[side]) * 1000 for side in SIDES}
    per_command = {side: statistics.median(cpu[side]) * 1000 for side in SIDES}
    errors = sum(r.errors for side in runs.values() for r in side)

    def paired(side: str) -> float:
        # The runs of a round share the machine's state of the moment.
        return statistics.median(
            a.rate / b.rate for a, b in zip(runs[side], runs[OFF], strict=True) if b.rate
        )

    def spread(side: str) -> str:
        return f"{min(r.rate for r in runs[side]):,.0f}-{max(r.rate for r in runs[side]):,.0f}"

    common = (
        f"medians of {rounds} runs of {seconds} s per side in turn (rotating order); metrics"
        f" on in every side; {options.concurrency} connections"
        + (f"; {errors} errors" if errors else "")
        + f"; {generator_note(options.load)}"
    )
    labels = {ON: "every trace + JSON logs", SAMPLED: f"1 trace in {_SAMPLE_ONE_IN} + JSON logs"}
    rows = []
    for side in (ON, SAMPLED):
        rows.append(
            Row(
                f"receipts/s, {labels[side]} / off",
                f"{rate[side]:,.0f} req/s, p50 {p50[side]:.1f} ms",
                f"{rate[OFF]:,.0f} req/s, p50 {p50[OFF]:.1f} ms",
                ratio(rate[side], rate[OFF]),
                f"POST /stock/{{sku}}/receipts; range {spread(side)} vs {spread(OFF)} req/s;"
                f" median of the paired ratios {paired(side):.2f}; {common}",
            )
        )
    for side in (ON, SAMPLED):
        rows.append(
            Row(
                f"server CPU per receipt, {labels[side]} / off",
                f"{per_command[side]:.2f} ms",
                f"{per_command[OFF]:.2f} ms",
                ratio(per_command[side], per_command[OFF]),
                "user + system time of the command API process (the span exporter's thread"
                " included) over the commands it answered, median of the runs"
                + (
                    f"; {spans:,} spans exported by both traced sides (decoded and dropped by a"
                    f" receiver in the bench process), about"
                    f" {spans / max(traced_commands + sampled_commands / _SAMPLE_ONE_IN, 1):.1f}"
                    " per traced command"
                    if side == ON
                    else ""
                ),
            )
        )
    return rows
