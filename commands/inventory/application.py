"""The inventory context's application service: stock items, one per SKU.

Reserving an order's lines touches several stock items and is all or none: every item is
loaded and asked first, and only if all of them agree are they saved, in ONE transaction.
Concurrent reservations are made safe by the event store's optimistic concurrency: a save
that loses the race on any item's version appends nothing, and is re-decided on fresh state
a bounded number of times (then 409 ``version_conflict``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic
from psycopg import sql

from commands.base import CommandResult, ShopApplication, VersionConflict
from domain.inventory import InsufficientStock, NoReservation, StockItem, stock_item_id_for

# Many buyers of one SKU at once is the normal case on a sale, so a stock change retries
# harder than a plain update, with a jittered back-off so the losers spread out. Each lost
# race means another buyer won, so the number of rounds is about the number of concurrent
# writers (a worker pool of ~40 per process; 200 buyers on one SKU needed at most ~20).
MAX_STOCK_ATTEMPTS = 100
_jitter = secrets.SystemRandom()


@dataclass(frozen=True, slots=True)
class StockResult(CommandResult):
    """A command over an order's stock items: ``id``/``version`` are the first SKU's item;
    ``versions`` has every item's new version by SKU."""

    order_id: UUID
    versions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExpiryResult:
    position: int
    expired: list[dict[str, Any]]  # {"order_id", "sku"} per released reservation


class InventoryApplication(ShopApplication):
    name = "inventory"
    context = "inventory"
    # Stock items live as long as the SKU is sold and collect an event per order.
    snapshotting_intervals = {StockItem: 50}

    def receive(self, sku: str, quantity: int, key: str | None) -> CommandResult:
        """Add received units; the stock item is started on its SKU's first receipt."""
        receipt_id = self.receipt_id(key)
        return self._change(sku, lambda item: item.receive(quantity, receipt_id))

    def receipt_id(self, key: str | None) -> str:
        """The receipt a receive with this key records on its stock item (no key: a new
        one), for whoever must recognise it later (the saga, ADR 0037)."""
        return str(self.idempotent_id(key))

    def adjust(
        self,
        sku: str,
        change: int,
        reason: str,
        key: str | None,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Units found (+) or lost (-), with why; never more than are free."""
        adjustment_id = str(self.idempotent_id(key))
        return self._change(
            sku, lambda item: item.adjust(change, reason, adjustment_id), expected_version
        )

    def reserve(self, order_id: UUID, units: Mapping[str, int], at: datetime) -> StockResult:
        """Reserve the units of every SKU (``units``: SKU → quantity) or none. A SKU with no
        stock item yet has nothing available, so it is short like any other (409
        ``insufficient_stock``)."""
        skus = sorted(units)

        def reserve_all(items: list[StockItem | None]) -> list[StockItem]:
            short = []
            for sku, item in zip(skus, items, strict=True):
                try:
                    if item is None:
                        raise InsufficientStock([sku])
                    item.reserve(order_id, units[sku], at)
                except InsufficientStock:
                    short.append(sku)
            if short:
                raise InsufficientStock(short)
            return [item for item in items if item is not None]

        return self._all_or_none(order_id, skus, reserve_all)

    def release(self, order_id: UUID, skus: Collection[str]) -> StockResult:
        """Give back what the order holds on these SKUs (none held is a no-op)."""

        def release_all(items: list[StockItem | None]) -> list[StockItem]:
            known = [item for item in items if item is not None]
            for item in known:
                item.release(order_id)
            return known

        return self._all_or_none(order_id, sorted(skus), release_all)

    def commit(self, order_id: UUID, skus: Collection[str]) -> StockResult:
        """The order is paid: the reserved units leave stock on every SKU, or on none."""

        def commit_all(items: list[StockItem | None]) -> list[StockItem]:
            known = []
            for sku, item in zip(sorted(skus), items, strict=True):
                if item is None:
                    raise NoReservation(f"SKU {sku}: order {order_id} holds no reservation")
                item.commit(order_id)
                known.append(item)
            return known

        return self._all_or_none(order_id, sorted(skus), commit_all)

    def expire(self, older_than: datetime) -> ExpiryResult:
        """Release every reservation made before the cut-off, stock item by stock item."""
        expired: list[dict[str, Any]] = []
        position = 0
        for item_id in self.stock_item_ids():
            released: list[dict[str, Any]] = []

            def expire_old(item: StockItem, released: list[dict[str, Any]] = released) -> None:
                orders = item.expire(older_than)
                released[:] = [{"order_id": order_id, "sku": item.sku} for order_id in orders]

            result = self.update(StockItem, item_id, "stock item", expire_old)
            position = max(position, result.position)
            expired.extend(released)
        return ExpiryResult(position or self.recorder.max_notification_id() or 0, expired)

    def get_stock_item(self, sku: str) -> StockItem:
        return self.get_stock_item_by_id(stock_item_id_for(sku))

    def get_stock_item_by_id(self, item_id: UUID) -> StockItem:
        return self.load(StockItem, item_id, "stock item")

    def stock_item_ids(self) -> list[UUID]:
        """Every stock item: the originators of the first events in this context's store."""
        recorder: Any = self.recorder  # the Postgres recorder: its schema and table
        statement = sql.SQL(
            "SELECT originator_id FROM {} WHERE originator_version = 1 AND topic = %s"
            " ORDER BY notification_id"
        ).format(sql.Identifier(recorder.datastore.schema, recorder.events_table_name))
        with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (get_topic(StockItem.Registered),))
            return [UUID(str(row["originator_id"])) for row in cursor.fetchall()]

    def _find(self, sku: str) -> StockItem | None:
        try:
            item: object = self.repository.get(stock_item_id_for(sku))
        except AggregateNotFoundError:
            return None
        assert isinstance(item, StockItem)
        return item

    def _change(
        self,
        sku: str,
        change: Callable[[StockItem], None],
        expected_version: int | None = None,
    ) -> CommandResult:
        """Change one stock item, starting it if its SKU is new."""
        for attempt in range(MAX_STOCK_ATTEMPTS):
            item = self._find(sku)
            version = 0 if item is None else item.version
            if expected_version is not None and version != expected_version:
                raise VersionConflict(
                    f"stock of {sku} is at version {version}, not {expected_version}"
                )
            item = item or StockItem(sku=sku)
            change(item)
            try:
                return self.save_and_report(item)
            except IntegrityError:
                if expected_version is not None:
                    raise VersionConflict(f"stock of {sku} was changed concurrently") from None
                _back_off(attempt)
        raise VersionConflict(f"stock of {sku} is too busy; try again")

    def _all_or_none(
        self,
        order_id: UUID,
        skus: list[str],
        decide: Callable[[list[StockItem | None]], list[StockItem]],
    ) -> StockResult:
        """Load the items of these SKUs, let ``decide`` change them (raising before anything
        is saved), save them together, and retry that on a concurrent change."""
        for attempt in range(MAX_STOCK_ATTEMPTS):
            items = decide([self._find(sku) for sku in skus])
            answer = partial(_stock_result, order_id, items)
            if not items:
                return answer(self.recorder.max_notification_id() or 0)
            try:
                return self.save_and_answer(answer, *items)
            except IntegrityError:
                _back_off(attempt)
        raise VersionConflict(f"the stock of order {order_id} is too busy; try again")


def _stock_result(order_id: UUID, items: list[StockItem], position: int) -> StockResult:
    first = items[0] if items else None
    return StockResult(
        id=first.id if first else order_id,
        version=first.version if first else 0,
        position=position,
        order_id=order_id,
        versions={item.sku: item.version for item in items},
    )


def _back_off(attempt: int) -> None:
    """Full jitter, growing with each lost race (1 ms, 2 ms, ... at most 50 ms)."""
    time.sleep(_jitter.uniform(0, min(0.05, 0.001 * 2**attempt)))
