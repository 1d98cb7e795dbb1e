"""`make bench` in smoke mode, so the benchmark never rots: every scenario runs (tiny sizes)
and prints its row. Times are printed, never asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.__main__ import SCENARIOS
from infra.platform import service_env
from infra.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.timeout(240)
def test_every_bench_scenario_runs_in_smoke_mode_and_prints_its_row(stack: Settings) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke"],
        env=service_env(stack),
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert run.returncode == 0, run.stderr[-5000:]
    lines = run.stdout.splitlines()
    for scenario in SCENARIOS:
        rows = [line for line in lines if line.startswith(f"{scenario} ")]
        assert rows, f"no row of {scenario} in:\n{run.stdout}"
        assert not any("FAILED" in row for row in rows), run.stderr[-5000:]
