"""Metrics and health of every process, against the running platform on the real servers
(ADR 0029): each /metrics parses with prometheus-client's parser, and the values move."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from psycopg import sql

from infra.apps import read_api
from infra.embedded.supervisor import Supervisor
from infra.observability.prometheus_server import INSTALL_HINT, binary, start_prometheus
from infra.platform import service_env
from infra.settings import Settings
from tests.conftest import free_port
from tests.support.checkout import CheckoutStack, running_checkout
from tests.support.metrics import scrape, value
from tests.support.platform import eventually, start

pytestmark = pytest.mark.integration

STUCK_SECONDS = 2.0


@pytest.fixture(scope="module")
def shop(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CheckoutStack]:
    logs: Path = tmp_path_factory.mktemp("metrics-logs")
    with running_checkout(stack, logs, worker_stuck_seconds=STUCK_SECONDS) as checkout:
        for port in (
            checkout.settings.relay_metrics_port,
            checkout.settings.worker_metrics_port,
            checkout.settings.saga_metrics_port,
        ):
            url = f"{_base(checkout, port)}/healthz"
            eventually(partial(_answers, url), 60, f"port {port} answers")
        yield checkout


def _base(shop: CheckoutStack, port: int) -> str:
    return f"http://{shop.settings.api_host}:{port}"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def _urls(shop: CheckoutStack) -> dict[str, str]:
    s = shop.settings
    return {
        "command-api": f"{_base(shop, s.command_api_port)}/metrics",
        "read-api": f"{_base(shop, s.read_api_port)}/metrics",
        "relay": f"{_base(shop, s.relay_metrics_port)}/metrics",
        "worker": f"{_base(shop, s.worker_metrics_port)}/metrics",
        "saga": f"{_base(shop, s.saga_metrics_port)}/metrics",
    }


EXPECTED = {
    "command-api": {
        "shop_http_requests",
        "shop_http_request_duration_seconds",
        "shop_http_requests_in_flight",
        "shop_commands",
        "shop_event_store_append_duration_seconds",
        "shop_event_store_events_appended",
        "shop_idempotent_repeats",
        "shop_rate_limit_refusals",
        "shop_authentication_failures",
    },
    "read-api": {"shop_http_requests", "shop_http_request_duration_seconds"},
    "relay": {
        "shop_relay_stored_head_position",
        "shop_relay_published_position",
        "shop_relay_backlog_positions",
        "shop_relay_batch_size_events",
        "shop_relay_publish_duration_seconds",
        "shop_relay_republishes",
        "shop_projection_applied_position",
        "shop_projection_behind_positions",
        "shop_projection_lag_seconds",
    },
    "worker": {
        "shop_projection_batch_size_events",
        "shop_projection_apply_duration_seconds",
        "shop_projection_dead_letters",
        "shop_projection_catch_ups",
        "shop_projection_stuck",
        "shop_notifications",
    },
    "saga": {
        "shop_saga_steps",
        "shop_saga_orders_finished",
        "shop_gateway_calls",
        "shop_gateway_call_duration_seconds",
        "shop_gateway_circuit_breaker_state",
        "shop_saga_pending_timers",
    },
}


def test_every_process_exports_its_families_in_the_prometheus_text_format(
    shop: CheckoutStack,
) -> None:
    for process, url in _urls(shop).items():
        # Waited for: a process that has just started may not have read the database yet.
        families = eventually(
            partial(_exporting, url, EXPECTED[process]), 30, f"{process} exports its families"
        )
        assert all(name.startswith(("shop_", "process_", "python_")) for name in families)


def _exporting(url: str, expected: set[str]) -> dict[str, Any] | None:
    families = scrape(url)
    return families if expected <= set(families) else None


def test_commands_are_counted_by_context_command_and_outcome(shop: CheckoutStack) -> None:
    url = _urls(shop)["command-api"]
    labels = {"context": "inventory", "command": "receive_stock"}
    ok = value(url, "shop_commands_total", outcome="ok", **labels)
    appended = value(url, "shop_event_store_events_appended_total", context="inventory")
    repeats = value(url, "shop_idempotent_repeats_total", context="inventory")
    key = f"metrics-{uuid4()}"

    def receive() -> None:
        response = shop.command.post(
            "/stock/MTR-1/receipts", json={"quantity": 1}, headers={"Idempotency-Key": key}
        )
        assert response.status_code in (200, 201), response.text

    receive()
    after_first = value(url, "shop_event_store_events_appended_total", context="inventory")
    receive()  # a repeat: answered from the first response, nothing appended
    refused = shop.command.post("/stock/MTR-1/receipts", json={"quantity": -1})
    assert refused.status_code == 422

    assert after_first > appended
    assert value(url, "shop_commands_total", outcome="ok", **labels) == ok + 2
    assert value(url, "shop_commands_total", outcome="refused", **labels) >= 1
    assert value(url, "shop_event_store_events_appended_total", context="inventory") == (
        after_first
    )
    assert value(url, "shop_idempotent_repeats_total", context="inventory") == repeats + 1
    route = "/stock/{sku}/receipts"
    assert value(url, "shop_http_requests_total", route=route, method="POST", status="422") >= 1
    assert value(url, "shop_http_request_duration_seconds_count", route=route) >= 3


def test_unknown_paths_do_not_grow_the_series_and_failed_logins_count_by_reason(
    shop: CheckoutStack,
) -> None:
    url = _urls(shop)["command-api"]
    for n in range(3):
        assert shop.command.get(f"/no-such-{uuid4()}-{n}").status_code == 404
    samples = scrape(url)["shop_http_requests"]
    routes = {s.labels["route"] for s in samples}
    assert "unmatched" in routes
    assert not [r for r in routes if r.startswith("/no-such")]

    before = value(url, "shop_authentication_failures_total", reason="missing_token")
    response = httpx.post(
        f"{_base(shop, shop.settings.command_api_port)}/carts", json={"customer_id": str(uuid4())}
    )
    assert response.status_code == 401
    assert value(url, "shop_authentication_failures_total", reason="missing_token") == before + 1


def test_a_checkout_moves_the_saga_and_pipeline_figures(shop: CheckoutStack) -> None:
    urls = _urls(shop)
    confirmed = value(urls["saga"], "shop_saga_orders_finished_total", state="confirmed")
    shop.receive("MTR-2", 3)

    order = shop.settled(shop.place("MTR-2", 1))

    assert order["status"] == "confirmed"
    eventually(
        lambda: (
            value(urls["saga"], "shop_saga_orders_finished_total", state="confirmed")
            == confirmed + 1
        ),
        30,
        "the confirmation counted",
    )
    assert value(urls["saga"], "shop_gateway_calls_total", outcome="approved") >= 1
    assert value(urls["saga"], "shop_gateway_circuit_breaker_state", state="closed") == 1
    assert value(urls["relay"], "shop_relay_published_events_total", context="orders") >= 1
    assert value(urls["worker"], "shop_projection_batch_size_events_count") >= 1


def test_projection_lag_grows_while_the_worker_is_stopped_and_drains_after(
    shop: CheckoutStack,
) -> None:
    relay = _urls(shop)["relay"]
    lag = {"projection": "product-search", "context": "inventory"}
    shop.processes.stop("worker")
    try:
        shop.receive("MTR-3", 1)
        first = eventually(
            lambda: value(relay, "shop_projection_lag_seconds", **lag), 30, "a lag shows"
        )
        assert value(relay, "shop_projection_behind_positions", **lag) >= 1
        eventually(
            lambda: value(relay, "shop_projection_lag_seconds", **lag) > first, 30, "lag grows"
        )
    finally:
        start(shop.processes, shop.settings, "worker")
    eventually(
        lambda: value(relay, "shop_projection_behind_positions", **lag) == 0, 90, "it drains"
    )
    assert value(relay, "shop_projection_lag_seconds", **lag) == 0


def test_a_poison_message_is_counted_as_a_dead_letter(shop: CheckoutStack) -> None:
    worker = _urls(shop)["worker"]
    labels = {"projection": "carts", "context": "carts"}
    before = value(worker, "shop_projection_dead_letters_total", **labels)
    producer = KafkaProducer(bootstrap_servers=shop.settings.kafka_bootstrap.split(","))
    try:
        producer.send(shop.settings.topic("carts"), key=b"poison", value=b"not an envelope")
        producer.flush(10)
    finally:
        producer.close()
    eventually(
        lambda: value(worker, "shop_projection_dead_letters_total", **labels) == before + 1,
        60,
        "the dead letter counted",
    )


def test_a_worker_behind_without_progress_turns_unhealthy_and_recovers(shop: CheckoutStack) -> None:
    ready = f"{_base(shop, shop.settings.worker_metrics_port)}/readyz"
    eventually(lambda: httpx.get(ready, timeout=5).status_code == 200, 60, "worker ready")
    table = sql.Identifier(shop.settings.schema_for("projections"), "checkpoints")
    with psycopg.connect(shop.settings.database_url) as conn:
        # Reads go on; no checkpoint can advance: every projection stops making progress.
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
        shop.receive("MTR-4", 1)
        answer = eventually(
            lambda: (r := httpx.get(ready, timeout=5)).status_code == 503 and r, 60, "unready"
        )
        assert "stuck" in answer.json()["reason"]
        healthz = httpx.get(ready.replace("/readyz", "/healthz"), timeout=5)
        assert healthz.status_code == 503
        conn.rollback()  # the lock goes with the transaction
    eventually(lambda: httpx.get(ready, timeout=5).status_code == 200, 60, "ready again")


def test_a_standby_relay_is_live_and_ready_and_says_so(shop: CheckoutStack) -> None:
    port = free_port()
    settings = shop.settings.model_copy(update={"relay_metrics_port": port})
    shop.processes.start(
        "relay-standby",
        [sys.executable, "-m", "infra.cli", "relay"],
        env=service_env(settings),
        signal_group=False,
    )
    try:
        base = _base(shop, port)
        answer = eventually(
            lambda: _answers(f"{base}/readyz") and httpx.get(f"{base}/readyz", timeout=5),
            60,
            "the standby answers",
        )
        answer = eventually(
            lambda: (
                (r := httpx.get(f"{base}/readyz", timeout=5)).json()["status"] == "standby" and r
            ),
            30,
            "standby",
        )
        assert answer.status_code == 200
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        assert value(f"{base}/metrics", "shop_relay_leader", context="orders") == 0
    finally:
        shop.processes.stop("relay-standby")


def test_the_read_api_names_the_missing_dependency(stack: Settings) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = stack.model_copy(update={"namespace": f"t{uuid4().hex[:12]}"})
    with TestClient(read_api(settings.model_copy(update={"elasticsearch_url": nowhere}))) as c:
        response = c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["dependency"] == "elasticsearch"


@pytest.mark.skipif(binary() is None, reason=f"prometheus missing: {INSTALL_HINT}")
def test_a_real_prometheus_scrapes_every_process(shop: CheckoutStack, tmp_path: Path) -> None:
    settings = shop.settings.model_copy(
        update={"data_dir": tmp_path, "prometheus_port": free_port()}
    )
    with Supervisor(tmp_path / "logs") as supervisor:
        url, note = start_prometheus(settings, supervisor)
        assert url is not None, note

        def up() -> dict[str, float] | None:
            answer = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=5).json()
            found = {r["metric"]["job"]: float(r["value"][1]) for r in answer["data"]["result"]}
            return found if len(found) == 5 and all(found.values()) else None

        jobs = eventually(up, 60, "every target scraped and up")
        assert set(jobs) == {
            "shop-command-api",
            "shop-read-api",
            "shop-relay",
            "shop-worker",
            "shop-saga",
        }
        rules = httpx.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert {group["name"] for group in rules} == {"shop-recording", "shop-alerts"}
        # A recording rule over a real scrape: the command API's request rate is there.
        query = {"query": 'shop_http_requests_total{job="shop-command-api"}'}
        eventually(
            lambda: httpx.get(f"{url}/api/v1/query", params=query, timeout=5).json()["data"][
                "result"
            ],
            30,
            "request counts scraped",
        )
