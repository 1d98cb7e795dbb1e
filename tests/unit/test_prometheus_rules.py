"""The alerting and recording rules (ADR 0029), checked and unit-tested by Prometheus's own
``promtool`` (Debian's ``prometheus`` package; `make test` installs it as root)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra.embedded.supervisor import Supervisor
from infra.observability.prometheus_server import RULES, config, start_prometheus
from infra.settings import Settings

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: apt-get install prometheus (make test does)"
)


@needs_promtool
def test_the_rules_are_valid_prometheus_rules() -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_the_alerts_fire_when_they_should_and_only_then() -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "rules_test.yml"],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_the_issue_asks_for_is_there() -> None:
    text = RULES.read_text()
    for alert in (
        "ShopProjectionLagging",
        "ShopDeadLetters",
        "ShopHighErrorRatio",
        "ShopCircuitBreakerOpen",
        "ShopRelayBacklog",
    ):
        assert f"alert: {alert}" in text


def test_shop_run_goes_on_without_prometheus_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(data_dir=tmp_path, prometheus_port=port)
        with Supervisor(tmp_path / "logs") as supervisor:
            url, note = start_prometheus(settings, supervisor)
            assert url is None
            assert supervisor.names() == []
    assert ("taken" in note) if PROMTOOL else ("not installed" in note)


def test_the_scrape_config_names_every_process() -> None:
    settings = Settings()
    scrapes: Any = config(settings)["scrape_configs"]
    jobs = {c["job_name"]: c["static_configs"][0]["targets"][0] for c in scrapes}
    assert jobs == {
        "shop-command-api": "127.0.0.1:8000",
        "shop-read-api": "127.0.0.1:8001",
        "shop-relay": "127.0.0.1:9101",
        "shop-worker": "127.0.0.1:9102",
        "shop-saga": "127.0.0.1:9103",
    }
