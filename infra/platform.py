"""`shop run`: the embedded stack plus every process of the platform, supervised."""

from __future__ import annotations

import os
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from pydantic import SecretStr

from domain.identity import Role
from infra import bootstrap
from infra.demo_catalog import DEMO_STOCK, load_demo_catalog
from infra.embedded.services import embedded_stack, maildir
from infra.embedded.supervisor import (
    Restart,
    ServiceFailed,
    Supervisor,
    stop_signals_ignored,
    stop_signals_interrupt,
)
from infra.observability.prometheus_server import start_prometheus
from infra.observability.watch import readiness_urls, watch_health
from infra.provision import provision
from infra.runtime import CLONE_DATA_DIR, remove_runtime, runtime_path, write_runtime
from infra.settings import Settings

_STARTUP_SECONDS = 60.0


def service_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a platform process exactly these settings."""
    own = {
        f"SHOP_{name.upper()}": _text(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }
    return {**os.environ, **own}


def _text(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def start_platform(settings: Settings, supervisor: Supervisor) -> None:
    """Provision, then start both APIs, the relay, the Faust worker and the order saga;
    wait until ready. Each is restarted when it dies, with back-off, until it has crashed
    5 times within a minute (ADR 0028)."""
    provision(settings)
    env = service_env(settings)
    shop = [sys.executable, "-m", "infra.cli"]
    for name in ("command-api", "read-api", "relay", "worker", "saga"):
        supervisor.start(name, [*shop, name], env=env, signal_group=False, restart=Restart())
    for name, port in (
        ("command-api", settings.command_api_port),
        ("read-api", settings.read_api_port),
    ):
        supervisor.wait_healthy(name, _ready(settings.api_host, port), _STARTUP_SECONDS)


def process_ports(settings: Settings) -> dict[str, int]:
    """The port each platform process serves /healthz, /readyz and /metrics on."""
    return {
        "command-api": settings.command_api_port,
        "read-api": settings.read_api_port,
        "relay": settings.relay_metrics_port,
        "worker": settings.worker_metrics_port,
        "saga": settings.saga_metrics_port,
    }


def _ready(host: str, port: int) -> Callable[[], bool]:
    def check() -> bool:
        return httpx.get(f"http://{host}:{port}/readyz", timeout=2).status_code == 200

    return check


def run_platform(settings: Settings) -> int:
    """Run everything until Ctrl-C or SIGTERM; 0 on a clean stop, 1 if a part failed."""
    stop_signals_interrupt()
    log_dir = settings.data_dir.resolve() / "logs"
    try:
        with (
            Supervisor(log_dir) as supervisor,
            embedded_stack(settings, supervisor) as stack,
            _recorded(stack),
        ):
            start_platform(stack, supervisor)
            prometheus_url, prometheus_note = start_prometheus(stack, supervisor)
            command_url = f"http://{stack.api_host}:{stack.command_api_port}"
            read_url = f"http://{stack.api_host}:{stack.read_api_port}"
            added = load_demo_catalog(command_url, bootstrap.operator_token(stack, Role.ADMIN))
            _print_banner(
                stack, command_url, read_url, added, log_dir, prometheus_url, prometheus_note
            )
            stop_watching = threading.Event()
            watch_health(readiness_urls(stack.api_host, process_ports(stack)), stop_watching)
            try:
                received = supervisor.watch()
            finally:
                stop_watching.set()
            stop_signals_ignored()
            print(f"{received.name}: stopping shop", file=sys.stderr)
    except ServiceFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: shop stopped", file=sys.stderr)
    return 0


@contextmanager
def _recorded(stack: Settings) -> Iterator[None]:
    """The runtime file (`infra.runtime`) exists exactly while the platform runs."""
    write_runtime(stack)
    try:
        yield
    finally:
        remove_runtime(stack)


def _shop_command(stack: Settings) -> str:
    """How to call the CLI from any directory: the venv's script, else this interpreter;
    with the data folder when the CLI would not find it by itself (`infra.runtime`)."""
    script = Path(sys.executable).parent / "shop"
    shop = shlex.quote(str(script)) if script.exists() else f"{sys.executable} -m infra.cli"
    data_dir = stack.data_dir.resolve()
    if data_dir == CLONE_DATA_DIR:
        return shop
    return f"SHOP_DATA_DIR={shlex.quote(str(data_dir))} {shop}"


def _sink_note(stack: Settings) -> str:
    folder = maildir(stack)
    return f"   (e-mails land in {folder})" if folder.exists() else ""


def _metrics_lines(stack: Settings, prometheus_url: str | None, note: str) -> str:
    lines = [
        f"  {name + ' ' * (12 - len(name))}  http://{stack.api_host}:{port}/metrics"
        for name, port in process_ports(stack).items()
    ]
    if prometheus_url is not None:
        lines.append(f"  Prometheus    {prometheus_url}   (alerts: {prometheus_url}/alerts)")
    else:
        lines.append(f"  Prometheus    {note}; the platform runs without it")
    return "\n".join(lines)


def _print_banner(
    stack: Settings,
    command_url: str,
    read_url: str,
    added: int,
    log_dir: os.PathLike[str],
    prometheus_url: str | None = None,
    prometheus_note: str = "",
) -> None:
    print(
        f"""
shop is running (demo catalog: {added} products added, {DEMO_STOCK} in stock each).

  command API   {command_url}   (OpenAPI: {command_url}/docs)
  read API      {read_url}   (OpenAPI: {read_url}/docs)
  Postgres      {stack.database_url}
  Kafka         {stack.kafka_bootstrap}
  Elasticsearch {stack.elasticsearch_url}
  Redis         {stack.redis_url}
  SMTP          {stack.smtp_url}{_sink_note(stack)}
  logs          {log_dir}

Metrics (each process also serves /healthz and /readyz on its port):
{_metrics_lines(stack, prometheus_url, prometheus_note)}

The CLI finds this platform from any terminal ({runtime_path(stack.data_dir.resolve())}).
Try (commands need a token; this one is an admin's, valid 15 minutes):
  export SHOP_TOKEN=$({_shop_command(stack)} token --role admin)
  curl -s -X POST {command_url}/products -H 'content-type: application/json' \\
    -H "authorization: Bearer $SHOP_TOKEN" \\
    -d '{{"sku":"LMP-0001","name":"Desk Lamp","brand":"Lumen","category":"home",
         "description":"Warm white LED","price":{{"amount":"34.90","currency":"EUR"}}}}'
  curl -s '{read_url}/products/search?q=hedphones'

Ctrl-C stops everything.
""",
        flush=True,
    )
