"""The auditors' commands: `shop replay`, `shop events tail`, `shop export`, `shop audit verify`.

Exit codes a script can rely on: 0 success, 1 verification found a broken chain,
2 a usage or configuration error (unknown aggregate type, id or context; malformed time or
version; no database or keys configured), 3 the database does not answer (``infra.cli.main``).
Every command takes ``--json``; progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contract.envelope import Envelope
from infra import bootstrap
from infra.audit import replay as replays
from infra.audit.log import follow, head, read_log
from infra.runtime import operator_settings

OK, BROKEN, USAGE = 0, 1, 2

events_cli = typer.Typer(no_args_is_help=True, help="The event logs of the contexts.")
audit_cli = typer.Typer(no_args_is_help=True, help="Tamper evidence of the event store.")
# Piped output is not cut at 80 columns: a script or a file gets whole lines.
out = Console(width=None if sys.stdout.isatty() else 10_000)
err = Console(stderr=True)

AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def register(cli: typer.Typer) -> None:
    cli.command("replay")(replay)
    cli.command("export")(export)
    cli.add_typer(events_cli, name="events")
    cli.add_typer(audit_cli, name="audit")


def _fail(message: str, code: int = USAGE) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _contexts(names: list[str] | None) -> list[str]:
    unknown = [n for n in names or () if n not in bootstrap.CONTEXTS]
    if unknown:
        raise _fail(f"unknown context {unknown[0]!r}; one of: {', '.join(bootstrap.CONTEXTS)}")
    return list(names or bootstrap.CONTEXTS)


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def replay(
    kind: Annotated[str, typer.Argument(help="one of: " + ", ".join(replays.AGGREGATES))],
    aggregate: Annotated[str, typer.Argument(metavar="ID", help="its id (SKU for products)")],
    version: Annotated[int | None, typer.Option(min=1, help="state at this version")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="state at this time: ISO 8601 with UTC offset")
    ] = None,
    between: Annotated[
        tuple[str, str] | None,
        typer.Option("--diff", metavar="A B", help="what changed from A to B (versions or times)"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """An aggregate's full event history and the state it reconstructs (now, at a version or
    time), or the difference between two points."""
    if kind not in replays.AGGREGATES:
        raise _fail(f"unknown aggregate type {kind!r}; one of: {', '.join(replays.AGGREGATES)}")
    if sum(x is not None for x in (version, as_of, between)) > 1:
        raise _fail("use one of --version, --as-of and --diff")
    context, _ = replays.AGGREGATES[kind]
    app = bootstrap.application(operator_settings("database_url"), context)
    try:
        result = _replay(app, kind, aggregate, version, as_of, between)
    except replays.ReplayError as e:
        raise _fail(str(e)) from None
    finally:
        app.close()
    if as_json:
        _dump(result)
    else:
        _show_replay(result)


def _replay(
    app: Any,
    kind: str,
    raw_id: str,
    version: int | None,
    as_of: str | None,
    between: tuple[str, str] | None,
) -> dict[str, Any]:
    aggregate = replays.aggregate_id(kind, raw_id)
    entries = replays.history(app, kind, aggregate)
    result: dict[str, Any] = {"type": kind, "id": str(aggregate), "context": app.context}
    if between is not None:
        a, b = (replays.version_at(entries, point) for point in between)
        before = replays.state_at(app, aggregate, a, entries)
        after = replays.state_at(app, aggregate, b, entries)
        low, high = sorted((a, b))
        result["diff"] = {
            "from_version": a,
            "to_version": b,
            "events": [e.as_dict() for e in entries if low < e.version <= high],
            "changes": replays.diff(before, after),
        }
        return result
    point = str(version) if version is not None else as_of
    at = replays.version_at(entries, point) if point is not None else entries[-1].version
    result["history"] = [e.as_dict() for e in entries if e.version <= at]
    result["state"] = replays.state_at(app, aggregate, at, entries)
    return result


def _show_replay(result: dict[str, Any]) -> None:
    title = f"{result['type']} {result['id']} ({result['context']})"
    if "diff" in result:
        d = result["diff"]
        out.print(f"[bold]{title}[/bold]: version {d['from_version']} → {d['to_version']}")
        _history_table(d["events"], "events between")
        table = Table("field", "before", "after", title="changes")
        for c in d["changes"]:
            table.add_row(c["path"], _short(c.get("before", "")), _short(c.get("after", "")))
        out.print(table)
        return
    out.print(f"[bold]{title}[/bold]")
    _history_table(result["history"], "history")
    out.print("[bold]state[/bold]")
    out.print_json(json.dumps(result["state"], default=str))


def _history_table(entries: list[dict[str, Any]], title: str) -> None:
    table = Table("v", "pos", "time", "type", "correlation", "causation", "payload", title=title)
    for e in entries:
        table.add_row(
            str(e["version"]),
            str(e["position"]),
            e["occurred_at"],
            e["type"],
            e["correlation_id"] or "",
            e["causation_id"] or "",
            _short(e["payload"]),
        )
    out.print(table)


def _short(value: Any, width: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def export(
    context: Annotated[str, typer.Option(help="the context whose log to export")],
    start: Annotated[int, typer.Option("--from", min=1, help="first position")] = 1,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default stdout)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON either way; with -o, a summary on stdout")
    ] = False,
) -> None:
    """The context's event log as JSON Lines (one envelope per line), in position order.
    Streams page by page: memory stays constant however long the log."""
    written = 0
    (context,) = _contexts([context])
    app = bootstrap.application(operator_settings("database_url"), context)
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        total = max(head(app) - start + 1, 0)
        with _progress(disable=output is None) as progress:
            task = progress.add_task(f"export {context}", total=total)
            for n, envelope in enumerate(read_log(app, start), start=1):
                sink.write(envelope.to_json().decode() + "\n")
                written = n
                if n % 1000 == 0:
                    progress.update(task, completed=n)
            progress.update(task, completed=total)
    finally:
        app.close()
        if output:
            sink.close()
    if as_json and output:
        summary = {"context": context, "from": start, "events": written, "output": str(output)}
        _dump(summary)


def _progress(disable: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=disable or not err.is_terminal,
    )


@events_cli.command("tail")
def tail(
    context: Annotated[
        list[str] | None, typer.Option(help="repeatable; default: every context")
    ] = None,
    start: Annotated[
        int | None, typer.Option("--from", min=1, help="first position (default: only new ones)")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="stop after this many")] = None,
    as_json: AsJson = False,
) -> None:
    """Follow new events live (Ctrl-C stops): time, context, position, type, aggregate."""
    settings = operator_settings("database_url")
    apps = [bootstrap.application(settings, c) for c in _contexts(context)]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    seen = 0

    def emit(envelope: Envelope) -> None:
        nonlocal seen
        seen += 1
        if as_json:
            typer.echo(envelope.to_json().decode())
        else:
            out.print(
                f"{envelope.occurred_at} [cyan]{envelope.context}[/cyan]@{envelope.position} "
                f"[bold]{envelope.type}[/bold] {envelope.aggregate_id} "
                f"v{envelope.aggregate_version}",
                highlight=False,
            )
        sys.stdout.flush()

    def keep_going() -> bool:
        return not stop.is_set() and (limit is None or seen < limit)

    try:
        after = {app.context: (start - 1 if start else head(app)) for app in apps}
        where = ", ".join(f"{name} after {position}" for name, position in after.items())
        err.print(f"following {where}", highlight=False)
        follow(settings.database_url, apps, after, emit, keep_going, poll_seconds=0.5)
    finally:
        for app in apps:
            app.close()


@audit_cli.command("verify")
def audit_verify(
    context: Annotated[
        list[str] | None, typer.Option(help="repeatable; default: every context")
    ] = None,
    anchors: Annotated[
        Path | None,
        typer.Option(
            help="JSON output of an earlier verify: its heads must still be in the logs",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Recompute every hash chain (each context's log and each aggregate's stream) and report
    the first broken link of each, with its position. Exit 1 if any is broken."""
    from infra.audit.verify import verify

    contexts = _contexts(context)
    heads = _read_anchors(anchors) if anchors else None
    settings = operator_settings("database_url")
    with _progress(disable=as_json) as progress:
        tasks: dict[str, Any] = {}
        counts: dict[str, int] = {}
        totals: dict[str, int] = {}

        def started(name: str, total: int) -> None:
            tasks[name] = progress.add_task(f"verify {name}", total=total)
            counts[name], totals[name] = 0, total

        def advanced(name: str, n: int) -> None:
            counts[name] += n
            if counts[name] % 1000 == 0:
                progress.update(tasks[name], completed=counts[name])

        reports = verify(settings, contexts, started, advanced, heads)
        for name, task in tasks.items():
            progress.update(task, completed=totals[name])
    ok = all(r.ok for r in reports)
    if as_json:
        _dump({"ok": ok, "contexts": {r.context: r.as_dict() for r in reports}})
    else:
        table = Table("context", "records", "streams", "head", "result", title="audit verify")
        for r in reports:
            problems = [b.reason for b in (r.log_break, r.stream_break) if b is not None] + (
                [r.anchor_problem] if r.anchor_problem else []
            )
            result = "[green]ok[/green]" if r.ok else "[red]" + "; ".join(problems) + "[/red]"
            head_text = f"{r.head_position} {r.head_hash[:12]}" if r.head_position else "-"
            table.add_row(r.context, str(r.records), str(r.streams), head_text, result)
        out.print(table)
    raise typer.Exit(OK if ok else BROKEN)


def _read_anchors(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return {name: report for name, report in data["contexts"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _fail(f"{path} is not the --json output of shop audit verify") from None
