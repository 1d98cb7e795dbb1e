"""The Grafana dashboard is well formed, and every expression uses metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from infra.observability import collectors, metrics
from infra.observability.prometheus_server import DASHBOARD, RULES

_NAME = re.compile(r"\b([a-z_]*:?shop_[a-z0-9_:]+|up)\b")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def _known() -> set[str]:
    names = {"up"}
    for item in vars(metrics).values():
        if isinstance(item, MetricWrapperBase):
            base = item._name  # prometheus-client's name, without _total
            names |= {base, *(base + suffix for suffix in _SUFFIXES)}
    source = Path(collectors.__file__).read_text()
    names |= set(re.findall(r'"(shop_[a-z0-9_]+)"', source))
    names |= set(re.findall(r"record: (\S+)", RULES.read_text()))
    return names


def _panels() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_panels_have_titles_places_and_prometheus_queries() -> None:
    panels = _panels()
    assert len(panels) >= 12
    ids = [p["id"] for p in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        targets = panel["targets"]
        assert isinstance(targets, list)
        assert targets
        for target in targets:
            assert target["expr"].strip()
            assert target["datasource"]["type"] == "prometheus"


def test_every_expression_uses_metrics_that_exist() -> None:
    known = _known()
    for panel in _panels():
        for target in panel["targets"]:
            used = set(_NAME.findall(target["expr"]))
            assert used, target["expr"]
            unknown = used - known
            assert not unknown, f"{panel['title']}: {sorted(unknown)}"


def test_the_dashboard_covers_golden_signals_and_the_pipeline() -> None:
    text = DASHBOARD.read_text()
    for name in (
        "job:shop_http_requests:rate5m",
        "job:shop_http_errors:ratio_rate5m",
        "shop_http_requests_in_flight",
        "shop_projection_lag_seconds",
        "shop_relay_backlog_positions",
        "shop_projection_dead_letters_total",
        "shop_gateway_circuit_breaker_state",
    ):
        assert name in text
