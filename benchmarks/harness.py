"""What every scenario shares: options, result rows, the embedded stack, fresh namespaces,
the platform's processes, and small statistics.

Only public entry points of shop are used (bootstrap functions, the CLI, HTTP), so the
harness keeps working while the internals change.
"""

from __future__ import annotations

import socket
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from infra import bootstrap
from infra.embedded.supervisor import Supervisor
from infra.platform import service_env
from infra.provision import provision
from infra.settings import Settings

_STARTUP_SECONDS = 90.0


@dataclass(frozen=True)
class Options:
    duration: float = 5.0  # seconds of measured load per side of a scenario
    concurrency: int = 16  # connections (HTTP) or threads (in-process)
    smoke: bool = False  # tiny sizes: a second or so per scenario
    rebuild_events: int = 1_000_000  # events in the log a full rebuild reads
    aggregate_events: int = 10_000  # events of the one aggregate that is loaded
    load: str = "auto"  # HTTP load generator: wrk if installed, else python

    @property
    def warmup(self) -> float:
        return min(1.0, self.duration / 5)


@dataclass(frozen=True)
class Row:
    """One line of the final table: shop's figure beside its yardstick's, and the ratio."""

    measure: str
    shop: str
    yardstick: str
    ratio: float | None
    note: str = ""
    scenario: str = ""  # the scenario that measured it (set by the runner)


def ratio(shop: float, yardstick: float) -> float | None:
    return shop / yardstick if yardstick else None


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def say(line: str) -> None:
    """Progress goes to stderr; the table goes to stdout."""
    print(line, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as e:  # a probe failing only means "not yet"
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.1)
    raise TimeoutError(f"not within {timeout:g}s: {what} ({last})")


# Settings that keep the rate limiter from interfering with a load test.
_UNLIMITED = {
    "rate_per_address": 1e9,
    "burst_per_address": 1_000_000_000,
    "rate_per_user": 1e9,
    "burst_per_user": 1_000_000_000,
}


@dataclass
class Bench:
    """The embedded stack of one run and what scenarios start on it."""

    stack: Settings
    supervisor: Supervisor
    options: Options
    # Figures one scenario leaves for another (e.g. the maximum command throughput).
    figures: dict[str, float] = field(default_factory=dict)
    # Namespaces with data that several scenarios measure on, by purpose.
    namespaces: dict[str, Settings] = field(default_factory=dict)
    _platform: Platform | None = None

    def namespace(self, prefix: str) -> Settings:
        """Settings of a fresh, provisioned namespace: no scenario sees another's data."""
        settings = self.stack.model_copy(
            update={"namespace": f"{prefix}{uuid.uuid4().hex[:8]}", **_UNLIMITED}
        )
        provision(settings)
        return settings

    def platform(self) -> Platform:
        """Both APIs, the relay and the worker as real processes, started once per run."""
        if self._platform is None:
            settings = self.namespace("bp").model_copy(
                update={"command_api_port": free_port(), "read_api_port": free_port()}
            )
            self._platform = Platform(settings, self.supervisor)
            self._platform.start()
        return self._platform


@dataclass
class Platform:
    settings: Settings
    supervisor: Supervisor
    cache: dict[str, list[str]] = field(default_factory=dict)  # data scenarios share

    @property
    def command_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.command_api_port}"

    @property
    def read_url(self) -> str:
        return f"http://{self.settings.api_host}:{self.settings.read_api_port}"

    def start(self) -> None:
        say("platform: starting command-api, read-api, relay, worker")
        env = service_env(self.settings)
        for name in ("command-api", "read-api", "relay", "worker"):
            self.supervisor.start(
                f"bench-{name}",
                [sys.executable, "-m", "infra.cli", name],
                env=env,
                signal_group=False,
            )
        for name, url in (("command-api", self.command_url), ("read-api", self.read_url)):
            self.supervisor.wait_healthy(f"bench-{name}", _ready(url), _STARTUP_SECONDS)

    def another_read_api(self, name: str, **settings: object) -> tuple[str, Callable[[], None]]:
        """A second read API on this platform's data with ``settings`` changed: its URL,
        and how to stop it."""
        changed = self.settings.model_copy(update={"read_api_port": free_port(), **settings})
        process = f"bench-{name}"
        self.supervisor.start(
            process,
            [sys.executable, "-m", "infra.cli", "read-api"],
            env=service_env(changed),
            signal_group=False,
        )
        url = f"http://{changed.api_host}:{changed.read_api_port}"
        self.supervisor.wait_healthy(process, _ready(url), _STARTUP_SECONDS)

        def stop() -> None:
            self.supervisor.stop(process)

        return url, stop

    def admin_headers(self) -> dict[str, str]:
        from domain.identity import Role

        return {"Authorization": f"Bearer {bootstrap.operator_token(self.settings, Role.ADMIN)}"}


def _ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200

    return check
