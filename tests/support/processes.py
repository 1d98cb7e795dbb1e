"""Finding every process a test started, by a marker in their environment."""

from __future__ import annotations

import time
from contextlib import suppress

import psutil  # type: ignore[import-untyped]  # no types-psutil in the venv

MARKER = "SHOP_EMBEDDED_TEST_RUN"


def marked_processes(marker: str) -> list[psutil.Process]:
    """Live processes carrying this run's marker in their environment."""
    found = []
    for process in psutil.process_iter():
        with suppress(psutil.Error):
            if process.environ().get(MARKER) == marker and not _is_zombie(process):
                found.append(process)
    return found


def _is_zombie(process: psutil.Process) -> bool:
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def alive(processes: list[psutil.Process], within: float = 5.0) -> list[psutil.Process]:
    """Those of ``processes`` still running after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        running = [p for p in processes if p.is_running() and not _is_zombie(p)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)
