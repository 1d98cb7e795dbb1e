"""Benchmark: what the hash chain costs at insert time, and how fast verify and export walk
a log. Prints numbers; asserts nothing. Run: .venv/bin/python -m benchmarks.audit [N]

Starts its own embedded stack on free ports (or uses the SHOP_*_URL servers).
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path
from uuid import uuid4

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from commands.orders.application import OrdersApplication
from infra import bootstrap
from infra.audit.log import read_log
from infra.audit.verify import verify
from infra.embedded.services import embedded_stack
from infra.embedded.supervisor import Supervisor
from infra.provision import provision
from infra.settings import Settings
from tests.support.orders import place


def a_stored_event(settings: Settings) -> StoredEvent:
    """A real stored OrderPlaced, to copy under fresh ids (so export can decode them)."""
    app = bootstrap.application(settings, "orders")
    try:
        assert isinstance(app, OrdersApplication)
        place(app, uuid4())
        (notification,) = app.recorder.select_notifications(1, 1)
        return StoredEvent(uuid4(), 1, notification.topic, notification.state)
    finally:
        app.close()


def insert(settings: Settings, n: int, batch: int) -> float:
    model = a_stored_event(settings)
    app = bootstrap.application(settings, "orders")
    try:
        started = time.perf_counter()
        for _ in range(n // batch):
            events = [StoredEvent(uuid4(), 1, model.topic, model.state) for _ in range(batch)]
            app.recorder.insert_events(events)
        return time.perf_counter() - started
    finally:
        app.close()


def main(n: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="shop-bench-"))
    data_dir.chmod(0o755)
    free = {f"embedded_{s}_port": 0 for s in ("postgres", "kafka", "elasticsearch", "redis")}
    base = Settings().model_copy(update={"data_dir": data_dir, **free})
    with Supervisor(data_dir / "logs") as supervisor, embedded_stack(base, supervisor) as stack:
        for chained in (False, True):
            settings = stack.model_copy(update={"namespace": f"b{uuid.uuid4().hex[:10]}"})
            provision(settings)
            if not chained:
                app = bootstrap.application(settings, "orders")
                table = bootstrap.events_table(app).name
                app.close()
                with psycopg.connect(settings.database_url, autocommit=True) as conn:
                    for trigger in ("audit_chain", "audit_chain_lock"):
                        conn.execute(
                            sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(trigger), table)
                        )
            for batch in (1, 100):
                seconds = insert(settings, n if batch > 1 else n // 10, batch)
                count = n if batch > 1 else n // 10
                label = "with chain" if chained else "no chain  "
                print(f"insert {label} batch {batch:>3}: {count / seconds:8.0f} events/s")
        started = time.perf_counter()
        (report,) = verify(settings, ["orders"])
        seconds = time.perf_counter() - started
        print(
            f"verify: {report.records} records, 2 passes, "
            f"{report.records / seconds:.0f} records/s, ok={report.ok}"
        )
        app = bootstrap.application(settings, "orders")
        try:
            started = time.perf_counter()
            exported = sum(1 for _ in read_log(app))
            seconds = time.perf_counter() - started
        finally:
            app.close()
        print(f"export: {exported} envelopes, {exported / seconds:.0f} events/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
