"""The Prometheus server `shop run` starts beside the platform, and what it scrapes.

Debian's ``prometheus`` package (``apt-get install prometheus``; `make run` installs it when
run as root) gives the ``prometheus`` and ``promtool`` binaries. Without it the platform runs
as before and the banner says how to get it. The configuration is written as JSON (which
is YAML) into the data folder; the rules are this package's ``prometheus/rules.yml``.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import httpx

from infra.embedded.supervisor import ServiceFailed, Supervisor
from infra.settings import Settings

RULES = Path(__file__).resolve().parent / "prometheus" / "rules.yml"
DASHBOARD = Path(__file__).resolve().parent / "grafana" / "shop.json"
INSTALL_HINT = "apt-get install prometheus (Debian's package; `make run` does it as root)"


def targets(settings: Settings) -> dict[str, str]:
    """Every process's /metrics address, by Prometheus job name."""
    host = settings.api_host
    return {
        "shop-command-api": f"{host}:{settings.command_api_port}",
        "shop-read-api": f"{host}:{settings.read_api_port}",
        "shop-relay": f"{host}:{settings.relay_metrics_port}",
        "shop-worker": f"{host}:{settings.worker_metrics_port}",
        "shop-saga": f"{host}:{settings.saga_metrics_port}",
    }


def config(settings: Settings, scrape_seconds: float = 5.0) -> dict[str, object]:
    every = f"{scrape_seconds:g}s"
    return {
        "global": {"scrape_interval": every, "evaluation_interval": every},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets(settings).items()
        ],
    }


def binary() -> str | None:
    return shutil.which("prometheus")


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def start_prometheus(
    settings: Settings, supervisor: Supervisor, timeout: float = 60
) -> tuple[str | None, str]:
    """Start Prometheus scraping every process: its URL, or None and why not (not installed,
    its port taken, it failed to start). The platform runs either way."""
    executable = binary()
    if executable is None:
        return None, f"not installed: {INSTALL_HINT}"
    if _port_taken(settings.api_host, settings.prometheus_port):
        return None, f"port {settings.prometheus_port} is taken: set SHOP_PROMETHEUS_PORT"
    folder = settings.data_dir.resolve() / "prometheus"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config_file = folder / "prometheus.yml"
    config_file.write_text(json.dumps(config(settings), indent=2))
    address = f"{settings.api_host}:{settings.prometheus_port}"
    supervisor.start(
        "prometheus",
        [
            executable,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={folder / 'data'}",
            "--storage.tsdb.retention.time=2d",
            f"--web.listen-address={address}",
        ],
    )
    url = f"http://{address}"
    try:
        supervisor.wait_healthy(
            "prometheus",
            lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200,
            timeout,
        )
    except ServiceFailed as e:
        supervisor.stop("prometheus")
        return None, f"did not start ({e.reason.splitlines()[0]})"
    return url, "ready"
