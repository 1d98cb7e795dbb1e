"""``python -m benchmarks`` (``make bench``): every scenario, shop beside its yardstick in
the same run on a fresh embedded stack; a table of figures and ratios at the end.

Nothing here asserts a time: the figures are for reading, the ratios for comparing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from benchmarks import (
    aggregates,
    http_commands,
    inproc_commands,
    instrumentation,
    pipeline,
    reads,
    rebuild,
    visibility,
)
from benchmarks.harness import Bench, Options, Row, say
from benchmarks.load import generator_name
from infra.embedded.services import embedded_stack
from infra.embedded.supervisor import Supervisor
from infra.settings import Settings

Scenario = Callable[[Bench], list[Row]]

SCENARIOS: dict[str, Scenario] = {
    "http-commands": http_commands.run,
    "instrumentation": instrumentation.run,
    "commands": inproc_commands.run,
    "search": reads.run_search,
    "carts": reads.run_carts,
    "relay": pipeline.run_relay,
    "projectors": pipeline.run_projectors,
    "visibility": visibility.run,
    "aggregate": aggregates.run,
    "rebuild": rebuild.run,
}


def parse(argv: Sequence[str]) -> tuple[Options, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per side")
    parser.add_argument("--concurrency", type=int, default=16, help="connections/threads")
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios: " + ",".join(SCENARIOS)
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, ~1 s per scenario")
    parser.add_argument(
        "--rebuild-events", type=int, default=None, help="log size of the rebuild (1,000,000)"
    )
    parser.add_argument(
        "--aggregate-events", type=int, default=None, help="events of the loaded aggregate"
    )
    parser.add_argument(
        "--load",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="HTTP load generator (auto: wrk if installed)",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; one of {', '.join(SCENARIOS)}")
    smoke = bool(args.smoke)
    options = Options(
        duration=1.0 if smoke and args.duration == 5.0 else args.duration,
        concurrency=4 if smoke and args.concurrency == 16 else args.concurrency,
        smoke=smoke,
        rebuild_events=args.rebuild_events or (2_000 if smoke else 1_000_000),
        aggregate_events=args.aggregate_events or (500 if smoke else 10_000),
        load=args.load,
    )
    return options, names


def table(rows: list[Row]) -> str:
    header = ("scenario", "measure", "shop", "yardstick", "shop/yardstick")
    cells = [header] + [
        (r.scenario, r.measure, r.shop, r.yardstick, "—" if r.ratio is None else f"{r.ratio:.2f}")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {r.measure}: {r.note}" for r in rows if r.note]
    return "\n".join([*lines, "", "notes:", *notes])


def heading(options: Options) -> str:
    mode = "smoke" if options.smoke else "full"
    return (
        f"shop benchmarks ({mode}): {options.duration:g} s per side after a"
        f" {options.warmup:g} s warm-up, concurrency {options.concurrency}, HTTP load from"
        f" {generator_name(options.load)}, {os.cpu_count()} CPUs shared by servers and load"
    )


def main(argv: Sequence[str]) -> int:
    options, names = parse(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    data_dir.chmod(0o755)
    services = ("postgres", "kafka", "elasticsearch", "redis", "smtp")
    free = {f"embedded_{service}_port": 0 for service in services}
    base = Settings().model_copy(update={"data_dir": data_dir, **free})
    rows: list[Row] = []
    failed: list[str] = []
    with Supervisor(data_dir / "logs") as supervisor, embedded_stack(base, supervisor) as stack:
        bench = Bench(stack, supervisor, options)
        for name in names:
            say(f"== {name}")
            started = time.monotonic()
            try:
                rows.extend(replace(row, scenario=name) for row in SCENARIOS[name](bench))
            except Exception:
                traceback.print_exc()
                failed.append(name)
                rows.append(Row(name, "FAILED", "", None, "see the traceback", scenario=name))
            say(f"== {name}: {time.monotonic() - started:.1f} s")
        print(f"\n{heading(options)}\n")
        print(table(rows), flush=True)
    shutil.rmtree(data_dir, ignore_errors=True)
    if failed:
        print(f"failed scenarios: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
