"""The alerting and recording rules (ADR 0029), checked and unit-tested by Prometheus's own
``promtool`` (Debian's ``prometheus`` package; `make test` installs it as root)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from infra.observability.prometheus_server import RULES

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
