"""A small, generic supervisor for child processes (backing services and app processes).

Every child runs in its own process group, so stopping it also stops whatever it forked,
and gets a parent-death signal, so it dies even if the supervisor is SIGKILLed. A child
started with a ``Restart`` policy that dies is started again after a back-off; only
repeated crashes within the policy's window end the watch (ADR 0028).
"""

from __future__ import annotations

import ctypes
import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType

_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 20
_POLL_SECONDS = 0.1
_STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


class ServiceFailed(Exception):
    """A child could not be started, did not become healthy, or died."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


@dataclass(frozen=True)
class Restart:
    """Start a child that died again, after ``first_delay`` seconds doubling up to
    ``max_delay``; give up when it has crashed ``max_crashes`` times within ``window``."""

    max_crashes: int = 5
    window: float = 60.0
    first_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, crashes: int) -> float:
        return float(min(self.max_delay, self.first_delay * 2 ** max(0, crashes - 1)))


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None
    stop_signal: signal.Signals
    signal_group: bool
    respawn: Callable[[], subprocess.Popen[bytes]] | None = None
    restart: Restart | None = None
    crashes: list[float] = field(default_factory=list)
    restart_at: float | None = None


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_signals_interrupt() -> None:
    """SIGINT and SIGTERM unwind like Ctrl-C, so the ``with`` blocks of a foreground command
    stop what they started. Explicit for both: a shell starts background jobs with SIGINT
    ignored."""
    for stop in _STOP_SIGNALS:
        signal.signal(stop, _interrupt)


def stop_signals_ignored() -> None:
    """Once shutting down, a second Ctrl-C must not cut the shutdown short."""
    for stop in _STOP_SIGNALS:
        signal.signal(stop, signal.SIG_IGN)


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child when its parent dies.

    It also gives the child default SIGINT/SIGTERM handling. Note the "parent" is the
    forking thread: start children from a long-lived thread.
    """
    if not sys.platform.startswith("linux"):
        return lambda: None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork, not in the child
    parent = os.getpid()

    def preexec() -> None:
        # Ignored and blocked signals survive exec (a shell starts background jobs with
        # SIGINT ignored): undo that, or the child could not be stopped.
        for stop in _STOP_SIGNALS:
            signal.signal(stop, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def log_tail(path: Path | None, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines of a log file, or "" if there is none."""
    if path is None:
        return ""
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16 * 1024))
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _with_tail(reason: str, path: Path | None) -> str:
    tail = log_tail(path)
    return f"{reason}; last lines of {path}:\n{tail}" if tail else reason


def _exit_code(process: subprocess.Popen[bytes]) -> int | None:
    """Exit code if the child has exited, without reaping it.

    Leaving it a zombie keeps its process group id reserved, so the group can still be
    killed safely afterwards.
    """
    if process.returncode is not None:
        return process.returncode
    try:
        info = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped by someone else
        return process.poll()
    if info is None:
        return None
    if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED):
        return -info.si_status
    return info.si_status


@contextmanager
def _signals_blocked() -> Iterator[None]:
    """Defer Ctrl-C/SIGTERM so a second one cannot interrupt a shutdown half-way."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Supervisor:
    """Starts named child processes, waits for them to be healthy and stops them all.

    ``log_dir``: where each child's stdout/stderr goes (``<log_dir>/<name>.log``);
    None lets children write to our own stdout/stderr.
    """

    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir
        self._children: list[_Child] = []

    def names(self) -> list[str]:
        """Names of the running (not yet stopped) children, in start order."""
        return [child.name for child in self._children]

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        user: str | None = None,
        log_path: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        signal_group: bool = True,
        restart: Restart | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` as child ``name`` in a new session (its own process group).

        ``stop_signal`` is sent on stop (and when we die); ``signal_group=False`` sends it
        to the main process only, for servers that shut their own workers down. With
        ``restart``, ``watch`` starts the child again when it dies (see ``Restart``).
        """
        if name in self.names():
            raise ValueError(f"a child named {name!r} is already running")
        if log_path is None and self.log_dir is not None:
            log_path = self.log_dir / f"{name}.log"

        def spawn() -> subprocess.Popen[bytes]:
            try:
                return self._spawn(argv, env, cwd, user, log_path, stop_signal)
            except OSError as exc:
                raise ServiceFailed(name, f"cannot start {argv[0]}: {exc}") from exc

        process = spawn()
        self._children.append(
            _Child(name, process, log_path, stop_signal, signal_group, spawn, restart)
        )
        return process

    @staticmethod
    def _spawn(
        argv: list[str],
        env: Mapping[str, str] | None,
        cwd: Path | str | None,
        user: str | None,
        log_path: Path | None,
        stop_signal: signal.Signals,
    ) -> subprocess.Popen[bytes]:
        # Like su: the user's own primary group and no supplementary groups of ours.
        account = pwd.getpwnam(user) if user is not None else None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        # The child gets its own copy of the log's file descriptor; ours is closed after.
        with log_path.open("ab") if log_path is not None else nullcontext() as output:
            return subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                user=account.pw_uid if account else None,
                group=account.pw_gid if account else None,
                extra_groups=[] if account else None,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
                preexec_fn=die_with_parent(stop_signal),
            )

    def _child(self, name: str) -> _Child:
        for child in self._children:
            if child.name == name:
                return child
        raise KeyError(name)

    def wait_healthy(self, name: str, check: Callable[[], bool | None], timeout: float) -> None:
        """Poll ``check`` until it returns anything but False without raising.

        Raises ServiceFailed if the child exits first or ``timeout`` seconds pass.
        """
        child = self._child(name)
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while True:
            code = _exit_code(child.process)
            if code is not None:
                reason = f"exited with code {code} before becoming healthy"
                raise ServiceFailed(name, _with_tail(reason, child.log_path))
            try:
                if check() is not False:
                    return
            except Exception as exc:  # any failure of the probe just means "not yet"
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                reason = f"not healthy after {timeout:g}s ({last_error})"
                raise ServiceFailed(name, _with_tail(reason, child.log_path))
            time.sleep(_POLL_SECONDS)

    def watch(
        self, signals: Iterable[signal.Signals] = (signal.SIGINT, signal.SIGTERM)
    ) -> signal.Signals:
        """Block until one of ``signals`` arrives (returned) or a child dies (ServiceFailed).

        A child with a restart policy is started again instead (said on stderr), until it
        crashes too often. Must be called from the main thread (it installs signal handlers
        meanwhile).
        """
        received: list[signal.Signals] = []

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            received.append(signal.Signals(signum))

        previous = {sig: signal.signal(sig, on_signal) for sig in signals}
        try:
            while not received:
                for child in self._children:
                    self._check(child)
                time.sleep(_POLL_SECONDS * 2)
            return received[0]
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _check(self, child: _Child) -> None:
        """Raise ServiceFailed for a dead child, or schedule and perform its restart."""
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                child.restart_at = None
                assert child.respawn is not None
                child.process.wait()  # reap the dead one; its group is gone with it
                child.process = child.respawn()
                print(f"{child.name}: restarted (pid {child.process.pid})", file=sys.stderr)
            return
        code = _exit_code(child.process)
        if code is None:
            return
        reason = f"exited unexpectedly with code {code}"
        policy = child.restart
        if policy is None or child.respawn is None:
            raise ServiceFailed(child.name, _with_tail(reason, child.log_path))
        # Kill what the dead child may have left in its group before it is reaped.
        _send(child.process.pid, signal.SIGKILL, group=True)
        child.crashes = [t for t in child.crashes if now - t < policy.window] + [now]
        if len(child.crashes) >= policy.max_crashes:
            reason += f" ({len(child.crashes)} crashes within {policy.window:g} s: given up)"
            raise ServiceFailed(child.name, _with_tail(reason, child.log_path))
        delay = policy.delay(len(child.crashes))
        print(
            f"{child.name}: {reason}; restarting in {delay:g} s"
            f" (crash {len(child.crashes)} of {policy.max_crashes} allowed"
            f" within {policy.window:g} s)",
            file=sys.stderr,
            flush=True,
        )
        child.restart_at = now + delay

    def stop(self, name: str, grace: float = 10.0) -> int:
        """Stop one child (stop signal, then SIGKILL after ``grace`` s); its exit code."""
        child = self._child(name)
        with _signals_blocked():
            code = self._stop(child, grace)
            self._children.remove(child)
        return code

    def stop_all(self, grace: float = 10.0) -> None:
        """Stop every child, in reverse start order."""
        with _signals_blocked():
            while self._children:
                self._stop(self._children[-1], grace)
                self._children.pop()

    @staticmethod
    def _stop(child: _Child, grace: float) -> int:
        process = child.process
        if _exit_code(process) is None:
            _send(process.pid, child.stop_signal, group=child.signal_group)
            deadline = time.monotonic() + grace
            while _exit_code(process) is None and time.monotonic() < deadline:
                time.sleep(0.05)
        # Leftovers of the group (or the child itself after the grace period) get killed
        # while the child is still unreaped, so its group id cannot have been reused.
        if process.returncode is None:
            _send(process.pid, signal.SIGKILL, group=True)
        return process.wait()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()


def _send(pid: int, sig: signal.Signals, *, group: bool) -> None:
    with suppress(ProcessLookupError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
