"""The supervisor heals a child that dies and gives up only on one that keeps crashing."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from infra.embedded.supervisor import Restart, ServiceFailed, Supervisor

_FAST = Restart(max_crashes=3, window=60.0, first_delay=0.05, max_delay=0.2)


def _stop_watch_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    return timer


def _stop_watch_when(path: Path, content: str, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and not (path.exists() and path.read_text() == content):
        time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGTERM)


def test_a_child_killed_once_is_restarted_and_the_watch_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    starts = tmp_path / "starts"
    # Counts its starts; stays up until killed.
    script = f"open({str(starts)!r}, 'a').write('x'); import time; time.sleep(60)"
    with Supervisor(tmp_path / "logs") as supervisor:
        first = supervisor.start("saga", [sys.executable, "-c", script], restart=_FAST)
        while not starts.exists():
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        # Ends the watch once the child has started again (or after a minute, failing below):
        # a fixed delay would race the restarted interpreter's start-up on a busy machine.
        stopper = threading.Thread(target=_stop_watch_when, args=(starts, "xx", 60.0))
        stopper.start()
        try:
            assert supervisor.watch() is signal.SIGTERM
        finally:
            stopper.join()
        assert starts.read_text() == "xx"
        assert supervisor.names() == ["saga"]
    err = capsys.readouterr().err
    assert "saga: exited unexpectedly with code -9; restarting in 0.05 s" in err
    assert "saga: restarted" in err


def test_a_child_that_keeps_crashing_is_given_up_after_the_allowed_crashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Supervisor(tmp_path / "logs") as supervisor:
        supervisor.start("worker", [sys.executable, "-c", "raise SystemExit(3)"], restart=_FAST)
        timer = _stop_watch_after(20)
        try:
            with pytest.raises(ServiceFailed, match="3 crashes within 60 s: given up"):
                supervisor.watch()
        finally:
            timer.cancel()
    err = capsys.readouterr().err
    assert err.count("restarting in") == 2
    assert "restarting in 0.1 s" in err  # the back-off doubles


def test_a_child_without_a_restart_policy_still_ends_the_watch(tmp_path: Path) -> None:
    with Supervisor(tmp_path / "logs") as supervisor:
        supervisor.start("postgres", [sys.executable, "-c", "raise SystemExit(1)"])
        with pytest.raises(ServiceFailed, match="exited unexpectedly with code 1"):
            supervisor.watch()
