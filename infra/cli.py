"""The `shop` command line: run the platform, its processes, and operator tasks."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from domain.identity import Role
from infra import bootstrap
from infra.audit.cli import register as register_audit_commands
from infra.observability.logs import LogFormat, configure_logging, log_handler
from infra.observability.tracing import configure_tracing
from infra.runtime import NotConfigured, Unreachable, operator_settings
from infra.settings import Settings

if TYPE_CHECKING:
    from streams.faust_app import ConsumerConfig

Consumer = TypeVar("Consumer", bound="ConsumerConfig")

# Exit codes besides 0, 1 (a broken chain) and 2 (usage, ADR 0017): a missing or invalid
# setting is 2 as well, a server that does not answer is 3.
CONFIGURATION, UNREACHABLE = 2, 3
# What the operator commands that touch every read model need.
SERVERS = ("database_url", "kafka_bootstrap", "elasticsearch_url", "redis_url")

AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]

cli = typer.Typer(no_args_is_help=True, help="shop: an event-sourced commerce platform")
projections_cli = typer.Typer(no_args_is_help=True, help="Read models and their progress.")
cli.add_typer(projections_cli, name="projections")
register_audit_commands(cli)  # replay, export, events tail, audit verify


def _logging(process: str = "shop") -> None:
    """Log lines in the configured format, and tracing if OTEL_* asks for it (ADR 0030)."""
    configure_logging(process, _log_format())
    configure_tracing(process)


def _log_format() -> LogFormat:
    try:
        return Settings().log_format
    except ValueError:  # an invalid setting is reported by the command itself
        return "text"


def _faust_worker(app: Any, process: str) -> Any:
    """A Faust worker that logs in the configured format and traces if asked to."""
    import faust

    configure_tracing(process)
    loglevel = os.environ.get("SHOP_LOG_LEVEL", "info").lower()
    if _log_format() != "json":
        return faust.Worker(app, loglevel=loglevel)
    # Faust sets up logging itself when it starts: an empty root config, then our handler.
    config = {"version": 1, "disable_existing_loggers": False, "root": {"handlers": []}}
    app.conf.loghandlers = [log_handler(process, "json")]
    return faust.Worker(app, loglevel=loglevel, logging_config=config)


@cli.command()
def run() -> None:
    """Start the embedded stack and the whole platform in the foreground (Ctrl-C stops)."""
    from infra.platform import run_platform

    _logging("run")
    raise typer.Exit(run_platform(Settings()))


@cli.command()
def provision(as_json: AsJson = False) -> None:
    """Create schemas, tables, topics and indices (idempotent)."""
    from infra.provision import provision as provision_namespace

    _logging("provision")
    settings = operator_settings(*SERVERS)
    provision_namespace(settings)
    if as_json:
        typer.echo(json.dumps({"provisioned": settings.namespace}))


def proxy_options(settings: Settings) -> dict[str, Any]:
    """X-Forwarded-For only from the configured proxies (uvicorn trusts 127.0.0.1 by
    default, which would let any local client pick its own address: ADR 0028)."""
    trusted = settings.trusted_proxies.strip()
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or ""}


def _multiprocess_metrics(settings: Settings, api: str) -> None:
    """With several uvicorn workers, each writes its metrics to files in a fresh folder
    that every worker's /metrics combines (prometheus-client's multiprocess mode, ADR 0029).
    Set before the workers start, which read it on import."""
    if settings.api_workers <= 1:
        return
    import shutil

    folder = settings.data_dir.resolve() / "metrics" / f"{settings.namespace}-{api}"
    shutil.rmtree(folder, ignore_errors=True)  # the files of a previous run would add up
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _serve(api: str, port: int) -> None:
    """Serve one of the two APIs (``infra.apps``) with the configured workers."""
    import uvicorn

    settings = Settings()
    _multiprocess_metrics(settings, api)
    _logging(api)
    uvicorn.run(
        f"infra.apps:{api.replace('-', '_')}",
        factory=True,
        # JSON lines: our root handler formats uvicorn's records too (its config would not).
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        host=settings.api_host,
        port=port,
        workers=settings.api_workers,
        log_level="info",
        **proxy_options(settings),
    )


@cli.command("command-api")
def command_api() -> None:
    """Serve the command API."""
    _serve("command-api", Settings().command_api_port)


@cli.command("read-api")
def read_api() -> None:
    """Serve the read API."""
    _serve("read-api", Settings().read_api_port)


@cli.command()
def relay(
    context: Annotated[list[str] | None, typer.Option(help="default: every context")] = None,
) -> None:
    """Publish each context's new events to Kafka until stopped."""
    from infra.observability.metrics import RelayMetrics
    from infra.observability.processes import observe_relay
    from streams.relay import run_relay

    _logging("relay")
    settings = Settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    metrics = RelayMetrics()
    relays = [bootstrap.relay(settings, name, metrics) for name in (context or bootstrap.CONTEXTS)]
    threads = [
        threading.Thread(
            target=run_relay,
            args=(relay, settings.database_url, stop, settings.relay_poll_seconds),
            name=f"relay-{relay.context}",
        )
        for relay in relays
    ]
    observe_relay(settings, metrics, relays, threads)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _consumer(process: str, config_of: Callable[[Settings], Consumer]) -> tuple[Settings, Consumer]:
    """The settings and a Faust consumer's config, its data folder made; tracing is set up
    first, so every store built after it gets traced connections."""
    configure_tracing(process)
    settings = Settings()
    config = config_of(settings)
    Path(config.datadir).mkdir(parents=True, exist_ok=True)
    return settings, config


@cli.command()
def worker() -> None:
    """Run the Faust worker with the projector agents."""
    from infra.observability.metrics import ProjectionMetrics
    from infra.observability.processes import observe_worker
    from infra.read_models import projectors
    from streams.worker import build_worker

    settings, config = _consumer("worker", bootstrap.worker_config)
    app = build_worker(
        config,
        projectors(settings),
        bootstrap.projection_checkpoints(settings),
        partial(bootstrap.store_catch_up, settings),
        ProjectionMetrics(),
    )
    observe_worker(settings)
    _faust_worker(app, "worker").execute_from_commandline()


@cli.command()
def saga() -> None:
    """Run the order saga (its own Faust app and consumer group)."""
    from infra.observability.metrics import SagaMetrics
    from infra.observability.processes import SagaHolder, observe_saga
    from streams.saga import build_saga_app

    settings, config = _consumer("saga", bootstrap.saga_config)
    metrics = SagaMetrics()
    holder = SagaHolder(settings, metrics)
    app = build_saga_app(config, holder.build, metrics.ticked)
    observe_saga(settings, metrics, holder)
    _faust_worker(app, "saga").execute_from_commandline()


@cli.command("demo-load")
def demo_load(
    url: Annotated[str | None, typer.Option(help="command API base URL")] = None,
    as_json: AsJson = False,
) -> None:
    """Add the demo catalog through the command API (products already there are kept)."""
    settings = operator_settings()
    base = url or f"http://{settings.api_host}:{settings.command_api_port}"
    from infra.demo_catalog import load_demo_catalog  # httpx: for this command only

    added = load_demo_catalog(base, bootstrap.operator_token(settings, Role.ADMIN))
    if as_json:
        typer.echo(json.dumps({"added": added}))
    else:
        typer.echo(f"demo catalog: {added} products added")


@projections_cli.command("rebuild")
def projections_rebuild(
    name: Annotated[str, typer.Argument(help="the read model; a wrong name lists them")],
    as_json: AsJson = False,
) -> None:
    """Rebuild a read model from the event store; queries keep working meanwhile."""
    from infra.read_models import REBUILDABLE, rebuild

    if name not in REBUILDABLE:
        typer.echo(
            f"error: unknown read model {name!r}; one of: {', '.join(REBUILDABLE)}", err=True
        )
        raise typer.Exit(2)
    _logging()
    settings = operator_settings(*SERVERS)
    audit, correlation = bootstrap.audit_log(settings), str(uuid.uuid4())
    actor = f"operator:{getpass.getuser()}"
    audit.record(actor, "projections.rebuild", name, correlation, {"status": "started"})
    outcome = asyncio.run(rebuild(settings, REBUILDABLE[name].name)).outcome
    audit.record(
        actor, "projections.rebuild", name, correlation, {"status": "done", "outcome": outcome}
    )
    if as_json:
        typer.echo(json.dumps({"read_model": name, "outcome": outcome}, indent=2))
    else:
        typer.echo(f"{name}: {outcome}")


@cli.command()
def token(
    role: Annotated[list[Role], typer.Option(help="a role of the token (repeatable)")],
    user: Annotated[str | None, typer.Option(help="user id (default: the operator id)")] = None,
    as_json: AsJson = False,
) -> None:
    """Print an access token signed with the configured key (for operators and development)."""
    settings = operator_settings()
    try:
        subject = uuid.UUID(user) if user else bootstrap.OPERATOR_ID
    except ValueError:
        typer.echo(f"error: --user {user!r} is not a user id (a UUID)", err=True)
        raise typer.Exit(2) from None
    issued = bootstrap.token_service(settings).access_token(subject, frozenset(role))
    if not as_json:
        typer.echo(issued.token)
        return
    answer = {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_at": issued.expires_at,
        "user_id": str(subject),
        "roles": sorted(role),
    }
    typer.echo(json.dumps(answer, indent=2))


@projections_cli.command("status")
def projections_status(as_json: AsJson = False) -> None:
    """Per projection and context: applied and published positions, lag, dead letters."""
    from infra.status import projection_status

    rows = projection_status(operator_settings("database_url"))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(
        f"{'projection':<16} {'context':<10} {'applied':>8} {'published':>9} "
        f"{'behind':>7} {'lag s':>7} {'dead':>5}"
    )
    for row in rows:
        typer.echo(
            f"{row['projection']:<16} {row['context']:<10} {row['applied_position']:>8} "
            f"{row['published_position']:>9} {row['behind_positions']:>7} "
            f"{row['lag_seconds']:>7} {row['dead_letters']:>5}"
        )


def main() -> None:
    """The `shop` entry point: a misconfigured command says what is missing in one line and
    exits 2; a server that does not answer exits 3 (ADR 0017). No tracebacks for either."""
    import psycopg
    import psycopg_pool
    from pydantic import ValidationError

    from infra.keys import KeysMissing
    from security.keys import KeysMissing as TokenKeysMissing

    try:
        cli()
    except (NotConfigured, KeysMissing, TokenKeysMissing) as e:
        _error(str(e), CONFIGURATION)
    except ValidationError as e:
        first = e.errors()[0]
        name = "SHOP_" + "_".join(str(p) for p in first["loc"]).upper()
        _error(f"{name}: {first['msg']}", CONFIGURATION)
    except (Unreachable, psycopg.OperationalError, psycopg_pool.PoolTimeout) as e:
        _error(str(e).strip().splitlines()[-1] if str(e).strip() else repr(e), UNREACHABLE)


def _error(message: str, code: int) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


if __name__ == "__main__":
    main()
