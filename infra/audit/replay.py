"""`shop replay`: an aggregate's stored history, the state it reconstructs at a version or a
time, and what changed between two points. Works for every aggregate type of every context;
reads the event store through the context's own application (recorder and mapper)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import StoredEvent
from psycopg import sql

from commands.base import ShopApplication
from contract.envelope import event_type, jsonable, public_payload
from domain.carts.cart import Cart
from domain.catalog.product import Product
from domain.identity.user import User
from domain.inventory.stock_item import StockItem
from domain.orders.order import Order
from domain.payments.payment import Payment
from domain.sku import sku_id

# Aggregate type on the command line → (context, class).
AGGREGATES: dict[str, tuple[str, type[Aggregate]]] = {
    "order": ("orders", Order),
    "product": ("catalog", Product),
    "stock-item": ("inventory", StockItem),
    "cart": ("carts", Cart),
    "user": ("identity", User),
    "payment": ("payments", Payment),
}
REDACTED = "<personal data withheld>"


class ReplayError(ValueError):
    """Bad input from the user: an unknown id, a version or time outside the history."""


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    position: int
    occurred_at: datetime
    type: str
    correlation_id: str | None
    causation_id: str | None
    payload: dict[str, Any]
    withheld: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "occurred_at": self.occurred_at.isoformat()}


def aggregate_id(kind: str, raw: str) -> UUID:
    """A UUID; for products and stock items a SKU also names the aggregate (ADR 0009)."""
    try:
        return UUID(raw)
    except ValueError:
        if kind in ("product", "stock-item") and raw.strip():
            return sku_id(raw)
        raise ReplayError(f"{raw!r} is not a {kind} id (a UUID)") from None


def history(app: ShopApplication, kind: str, aggregate: UUID) -> list[HistoryEntry]:
    """Every stored event of one aggregate in version order, with its log position."""
    recorder: Any = app.recorder
    query = sql.SQL(
        "SELECT originator_version, topic, state, notification_id FROM {}"
        " WHERE originator_id = %s ORDER BY originator_version"
    ).format(sql.Identifier(recorder.datastore.schema, recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(query, (aggregate,))
        rows = cursor.fetchall()
    if not rows:
        raise ReplayError(f"{kind} {aggregate} does not exist in {app.context}")
    entries = []
    for row in rows:
        stored = StoredEvent(
            aggregate, row["originator_version"], row["topic"], bytes(row["state"])
        )
        event, metadata = app.mapper_with_metadata.decode(stored)
        assert isinstance(event, DomainEvent)
        withheld = tuple(getattr(type(event), "private_fields", ()))
        entries.append(
            HistoryEntry(
                version=event.originator_version,
                position=int(row["notification_id"]),
                occurred_at=event.timestamp,
                type=event_type(app.context, event),
                correlation_id=metadata.correlation_id if metadata else None,
                causation_id=metadata.causation_id if metadata else None,
                payload=public_payload(event),
                withheld=withheld,
            )
        )
    _, expected = AGGREGATES[kind]
    if not isinstance(app.repository.get(aggregate, version=1), expected):
        raise ReplayError(f"{aggregate} is not a {kind}")
    return entries


def version_at(entries: list[HistoryEntry], point: str) -> int:
    """A point in the history: a version number, or an ISO 8601 time with a UTC offset
    (the last version recorded at or before it)."""
    if point.isdigit():
        version = int(point)
        if not 1 <= version <= entries[-1].version:
            raise ReplayError(f"version {version} is outside 1..{entries[-1].version}")
        return version
    at = parse_time(point)
    before = [e.version for e in entries if e.occurred_at <= at]
    if not before:
        raise ReplayError(f"the aggregate did not exist yet at {at.isoformat()}")
    return before[-1]


def parse_time(raw: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise ReplayError(
            f"{raw!r} is neither a version nor an ISO 8601 time (2026-01-31T12:00:00+00:00)"
        ) from None
    if at.tzinfo is None:
        raise ReplayError(f"{raw!r} has no UTC offset (add Z or +00:00)")
    return at


def state_at(
    app: ShopApplication, aggregate: UUID, version: int, entries: list[HistoryEntry]
) -> dict[str, Any]:
    """The aggregate's state as it was at ``version``, personal data withheld."""
    try:
        found: Aggregate = app.repository.get(aggregate, version=version)
    except AggregateNotFoundError:
        raise ReplayError(f"{aggregate} has no version {version}") from None
    private = {name for e in entries for name in e.withheld}
    state: dict[str, Any] = {
        "id": str(found.id),
        "version": found.version,
        "created_on": found.created_on.isoformat(),
        "modified_on": found.modified_on.isoformat(),
    }
    for name, value in vars(found).items():
        if name.startswith("_"):
            continue
        state[name] = REDACTED if name in private else jsonable(value)
    return state


def diff(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """What changed from ``before`` to ``after``: one entry per changed leaf, dotted paths."""
    changes: list[dict[str, Any]] = []
    for key in sorted(before.keys() | after.keys()):
        path = f"{prefix}{key}"
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(diff(old, new, f"{path}."))
        elif old is _MISSING:
            changes.append({"path": path, "change": "added", "after": new})
        elif new is _MISSING:
            changes.append({"path": path, "change": "removed", "before": old})
        else:
            changes.append({"path": path, "change": "changed", "before": old, "after": new})
    return changes


_MISSING: Any = object()
