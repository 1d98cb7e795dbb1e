"""What the deployment tests share: the rendered overlays, the tools, what each process serves."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"
OVERLAYS = sorted(p.name for p in (DEPLOY / "overlays").iterdir() if p.is_dir())
# The Kubernetes version the schemas are checked against (the clusters' minimum).
KUBERNETES_VERSION = "1.32.0"

# Declared table: where each process serves its health and metrics (agreed with the
# observability work). The APIs' paths are checked against the real FastAPI apps too.
SERVES: dict[str, tuple[int, frozenset[str]]] = {
    "command-api": (8000, frozenset({"/healthz", "/readyz", "/metrics"})),
    "read-api": (8001, frozenset({"/healthz", "/readyz", "/metrics"})),
    "relay": (9101, frozenset({"/healthz", "/readyz", "/metrics"})),
    "worker": (9102, frozenset({"/healthz", "/readyz", "/metrics"})),
    "saga": (9103, frozenset({"/healthz", "/readyz", "/metrics"})),
}
# The setting that picks each process's port, so the table and Settings cannot drift.
PORT_SETTING = {
    "command-api": "command_api_port",
    "read-api": "read_api_port",
    "relay": "relay_metrics_port",
    "worker": "worker_metrics_port",
    "saga": "saga_metrics_port",
}


def tool(name: str) -> str:
    """A tool from the project's virtualenvs (installed by `make install`), or on PATH."""
    for folder in (Path(sys.executable).parent, ROOT / ".venv-tools" / "bin"):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make install`")
    return found


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the Makefile installs it where apt-get can)")
    out = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], *kinds: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in kinds]


def component(doc: dict[str, Any]) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def pod_specs(docs: tuple[dict[str, Any], ...]) -> list[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every Deployment and Job."""
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in of_kind(docs, "Deployment", "Job")
    ]
