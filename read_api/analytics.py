"""Analytics for the analyst role: the figures of the Postgres ``analytics`` schema as JSON
or CSV (``?format=csv`` or ``Accept: text/csv``). Reads the views and tables that
``projections/sinks/postgres_analytics.py`` keeps; never an event store.

Every report takes a UTC day range (``from``, ``to``, inclusive) and a row ``limit``; a
truncated answer says so (``truncated`` in JSON, ``Shop-Truncated: true`` in both).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from psycopg import sql

from domain.identity import Role
from read_api.dependencies import Connect, Filter, fetch_columns
from security.access import require

MAX_ROWS = 10_000


@dataclass(frozen=True)
class Report:
    relation: str
    summary: str
    order: str
    day: str | None = None  # the column a day range applies to
    day_is_timestamp: bool = False
    filters: tuple[str, ...] = ()


REPORTS: dict[str, Report] = {
    "daily-sales": Report(
        "daily_sales",
        "Units, revenue, refunds and net revenue per UTC day, product and category"
        " (cancelled orders excluded; a refund counts on its day)",
        "day, category, sku, currency",
        "day",
        filters=("category", "sku"),
    ),
    "category-sales": Report(
        "daily_category_sales",
        "Units and revenue per UTC day and category",
        "day, category, currency",
        "day",
        filters=("category",),
    ),
    "funnel": Report(
        "funnel_daily",
        "Carts created → checked out → orders placed → paid → delivered, per UTC day",
        "day",
        "day",
    ),
    "payments": Report(
        "payments_daily",
        "Authorized, captured and refunded amounts and declines per UTC day and currency",
        "day, currency",
        "day",
    ),
    "order-lines": Report(
        "order_line_details",
        "Every order line with its product, category, price, the order's status and times",
        "placed_at, order_id, line_no",
        "placed_at",
        day_is_timestamp=True,
        filters=("category", "sku", "status"),
    ),
    "inventory-movements": Report(
        "inventory_movement_details",
        "Every stock movement: received, adjusted, reserved, released, expired, committed",
        "occurred_at, stock_item_id, version",
        "occurred_at",
        day_is_timestamp=True,
        filters=("sku",),
    ),
    "stock-levels": Report(
        "stock_levels", "On hand, reserved and available units per SKU", "sku", filters=("sku",)
    ),
}


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"


Day = Annotated[date | None, Query(description="UTC day, YYYY-MM-DD (inclusive)")]


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", field), "msg": message, "type": "value_error"}]
    )


class AnalyticsQueries:
    def __init__(self, connect: Connect, schema: str) -> None:
        self.connect = connect
        self.schema = schema

    async def rows(
        self,
        report: Report,
        since: date | None,
        until: date | None,
        filters: dict[str, str],
        limit: int,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        where: list[sql.Composable] = []
        params: list[Any] = []
        if report.day is not None:
            column: sql.Composable = sql.Identifier(report.day)
            if report.day_is_timestamp:
                column = sql.SQL("({} AT TIME ZONE 'UTC')::date").format(column)
            for bound, op in ((since, ">="), (until, "<=")):
                if bound is not None:
                    where.append(sql.SQL("{} {} %s").format(column, sql.SQL(op)))
                    params.append(bound)
        for name, value in filters.items():
            where.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
            params.append(value)
        query = sql.SQL("SELECT * FROM {t}{where} ORDER BY {order} LIMIT %s").format(
            t=sql.Identifier(self.schema, report.relation),
            where=sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
            order=sql.SQL(report.order),
        )
        # Not provisioned yet: nothing to report.
        return await fetch_columns(self.connect, query, [*params, limit])


def router(connect: Connect, schema: str) -> APIRouter:
    """The analytics endpoints over the schema ``<namespace>_analytics``."""
    queries = AnalyticsQueries(connect, schema)
    api = APIRouter(
        prefix="/analytics",
        tags=["analytics"],
        dependencies=[Depends(require(Role.ANALYST, Role.ADMIN))],
    )

    @api.get("")
    async def reports() -> dict[str, Any]:
        """The reports there are, with what each filters on."""
        return {
            "reports": [
                {
                    "name": name,
                    "path": f"/analytics/{name}",
                    "summary": r.summary,
                    "relation": f"{schema}.{r.relation}",
                    "filters": (["from", "to"] if r.day else []) + list(r.filters),
                }
                for name, r in REPORTS.items()
            ]
        }

    for name, report in REPORTS.items():
        api.add_api_route(
            f"/{name}",
            _endpoint(queries, name, report),
            methods=["GET"],
            summary=report.summary,
            response_model=None,
        )
    return api


def _endpoint(queries: AnalyticsQueries, name: str, report: Report) -> Callable[..., Any]:
    async def endpoint(
        request: Request,
        since: Annotated[Day, Query(alias="from")] = None,
        until: Annotated[Day, Query(alias="to")] = None,
        category: Filter = None,
        sku: Filter = None,
        status: Filter = None,
        limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 1000,
        format: Annotated[Format | None, Query(description="default: by Accept")] = None,
    ) -> Response | dict[str, Any]:
        given = {"category": category, "sku": sku, "status": status}
        filters = {k: v for k, v in given.items() if v is not None}
        for unsupported in filters.keys() - set(report.filters):
            raise _invalid(unsupported, f"{name} cannot be filtered by {unsupported}")
        if report.day is None and (since or until):
            raise _invalid("from" if since else "to", f"{name} has no day range")
        if since and until and since > until:
            raise _invalid("to", "to must not be before from")
        columns, rows = await queries.rows(report, since, until, filters, limit + 1)
        truncated = len(rows) > limit
        rows = [{k: _plain(v) for k, v in row.items()} for row in rows[:limit]]
        headers = {"Shop-Truncated": str(truncated).lower()}
        wants_csv = format is Format.CSV or (
            format is None and "text/csv" in request.headers.get("accept", "")
        )
        if wants_csv:
            return Response(
                _csv(columns, rows), media_type="text/csv; charset=utf-8", headers=headers
            )
        body = {"report": name, "columns": columns, "rows": rows, "truncated": truncated}
        return Response(_json(body), media_type="application/json", headers=headers)

    endpoint.__name__ = name.replace("-", "_")
    return endpoint


def _plain(value: Any) -> Any:
    match value:
        case Decimal():  # sums of bigint come back as numeric
            return int(value) if value == value.to_integral_value() else str(value)
        case datetime() | date():
            return value.isoformat()
        case UUID():
            return str(value)
        case _:
            return value


def _json(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body, separators=(",", ":")).encode()


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return buffer.getvalue()
