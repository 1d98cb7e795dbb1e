"""The analytics reports of the read API over the real Postgres: for analysts and admins,
the same figures as JSON and CSV, narrowed by day and limit, with 422 and 404 problems."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from domain.identity import Role
from infra.http import install_problem_handlers
from infra.settings import Settings
from read_api.analytics import router
from tests.support.analytics import a_day_of_trading, logs, project
from tests.support.auth import bearer, with_access
from tests.support.pooled import pooled_app
from tests.support.problems import assert_a_422_naming

pytestmark = pytest.mark.integration


@pytest.fixture
def read_api(settings: Settings) -> Iterator[TestClient]:
    app, pool = pooled_app(settings.database_url)
    api = with_access(app, settings)
    api.include_router(router(pool.connection, settings.schema_for("analytics")))
    install_problem_handlers(api)
    with TestClient(api, headers=bearer(settings, None, Role.ANALYST)) as client:
        yield client


def test_analytics_is_for_analysts_and_admins(settings: Settings, read_api: TestClient) -> None:
    customer = read_api.get("/analytics", headers=bearer(settings, None, Role.CUSTOMER))
    anonymous = read_api.get("/analytics", headers={"Authorization": ""})
    admin = read_api.get("/analytics", headers=bearer(settings, None, Role.ADMIN))

    assert (customer.status_code, anonymous.status_code, admin.status_code) == (403, 401, 200)


def test_every_report_answers_the_same_figures_as_json_and_csv(
    settings: Settings, read_api: TestClient
) -> None:
    a_day_of_trading(settings)
    project(settings, *logs(settings).values())
    names = [r["name"] for r in read_api.get("/analytics").json()["reports"]]
    assert len(names) == 7

    for name in names:
        as_json = read_api.get(f"/analytics/{name}")
        as_csv = read_api.get(f"/analytics/{name}", headers={"accept": "text/csv"})
        by_param = read_api.get(f"/analytics/{name}", params={"format": "csv"})
        assert as_json.status_code == as_csv.status_code == 200
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert by_param.text == as_csv.text
        body = as_json.json()
        assert body["rows"], name
        parsed = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert list(parsed[0]) == body["columns"]
        assert parsed == [
            {c: "" if row[c] is None else str(row[c]) for c in body["columns"]}
            for row in body["rows"]
        ]

    sales = read_api.get("/analytics/daily-sales", params={"category": "audio"}).json()
    assert [(r["sku"], r["units"], r["revenue_minor"]) for r in sales["rows"]] == [
        ("AN-HP", 2, 3998)
    ]
    funnel = read_api.get("/analytics/funnel").json()["rows"][0]
    assert funnel["orders_placed"] == 3


def test_a_day_range_and_a_limit_narrow_a_report(settings: Settings, read_api: TestClient) -> None:
    a_day_of_trading(settings)
    project(settings, *logs(settings).values())
    today = datetime.now(UTC).date().isoformat()

    assert len(read_api.get("/analytics/order-lines", params={"from": today}).json()["rows"]) == 3
    assert read_api.get("/analytics/order-lines", params={"to": "2000-01-01"}).json()["rows"] == []
    page = read_api.get("/analytics/inventory-movements", params={"limit": 2})
    assert len(page.json()["rows"]) == 2
    assert page.json()["truncated"] is True
    assert page.headers["Shop-Truncated"] == "true"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/analytics/daily-sales", {"from": "yesterday"}, "query.from"),
        ("/analytics/daily-sales", {"from": "2026-02-02", "to": "2026-02-01"}, "query.to"),
        ("/analytics/daily-sales", {"status": "paid"}, "query.status"),
        ("/analytics/stock-levels", {"from": "2026-02-02"}, "query.from"),
        ("/analytics/funnel", {"limit": 0}, "query.limit"),
        ("/analytics/funnel", {"limit": 10_001}, "query.limit"),
        ("/analytics/funnel", {"format": "xml"}, "query.format"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    read_api: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    assert_a_422_naming(read_api.get(path, params=params), field)


def test_an_unknown_report_is_a_404(read_api: TestClient) -> None:
    assert read_api.get(f"/analytics/{uuid4()}").status_code == 404
