"""`shop run` (what `make run` starts) as a newcomer starts it: no SHOP_* variable of this
shell, a fresh data folder, and every server of the embedded stack on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil  # type: ignore[import-untyped]

from infra.embedded.supervisor import die_with_parent
from tests.conftest import free_port
from tests.support.processes import MARKER, marked_processes

ROOT = Path(__file__).resolve().parents[2]
# What `shop run` prints last once everything is up.
READY = "Ctrl-C stops everything."


def no_shop_variables() -> dict[str, str]:
    """This process's environment without any SHOP_* variable: a newcomer's shell."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}


def embedded_on_free_ports(data_dir: Path) -> dict[str, str]:
    """The settings of an embedded stack in ``data_dir`` whose servers each take a free port."""
    return {
        "SHOP_DATA_DIR": str(data_dir),
        "SHOP_EMBEDDED_POSTGRES_PORT": "0",
        "SHOP_EMBEDDED_KAFKA_PORT": "0",
        "SHOP_EMBEDDED_ELASTICSEARCH_PORT": "0",
        "SHOP_EMBEDDED_REDIS_PORT": "0",
        "SHOP_EMBEDDED_SMTP_PORT": "0",
    }


@dataclass
class ShopRun:
    process: subprocess.Popen[str]
    data_dir: Path
    banner: str  # what `shop run` printed up to READY
    command_url: str
    read_url: str


Run = TypeVar("Run", bound=ShopRun)


@contextmanager
def shop_run(data_dir: Path, kind: type[Run]) -> Iterator[Run]:
    """`shop run` on ``data_dir`` (a ``kind`` of ShopRun) once it printed READY; every process
    it started is killed at the end, found by a marker in their environment."""
    command_port, read_port = free_port(), free_port()
    env = (
        no_shop_variables()
        | embedded_on_free_ports(data_dir)
        | {
            "SHOP_COMMAND_API_PORT": str(command_port),
            "SHOP_READ_API_PORT": str(read_port),
            # Free ports, not 9101-9103 and 9090: another `shop run` on the machine keeps its own.
            "SHOP_RELAY_METRICS_PORT": str(free_port()),
            "SHOP_WORKER_METRICS_PORT": str(free_port()),
            "SHOP_SAGA_METRICS_PORT": str(free_port()),
            "SHOP_PROMETHEUS_PORT": str(free_port()),
            MARKER: uuid.uuid4().hex,
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "run"],
        cwd=ROOT,
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    try:
        banner = read_until(process, READY, timeout=180)
        yield kind(
            process,
            data_dir,
            banner,
            f"http://127.0.0.1:{command_port}",
            f"http://127.0.0.1:{read_port}",
        )
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for leftover in marked_processes(env[MARKER]):
            with suppress(psutil.Error):
                leftover.kill()


def read_until(process: subprocess.Popen[str], last_line: str, timeout: float) -> str:
    """What ``process`` printed up to and with ``last_line``."""
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        lines.append(line)
        if line.strip() == last_line:
            return "".join(lines)
        if time.monotonic() > deadline:
            break
    raise AssertionError("shop run did not come up:\n" + "".join(lines[-60:]))
