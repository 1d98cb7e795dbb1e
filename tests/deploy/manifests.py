"""What the deployment tests share: the renders, the tools, what each process serves.

A *render* is one complete deployment the tests check: each Kustomize overlay, rendered by
`kubectl kustomize`, and the Helm chart rendered with each of its values files by Helm's Go
SDK (helm-python-sdk). Every check of the manifests is parametrized over RENDERS, so the
chart and the overlays meet the same checks and cannot drift apart unnoticed.
"""

from __future__ import annotations

import platform
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
CHART = DEPLOY / "helm" / "shop"
# The chart's values files: its defaults (the Kustomize base's sizes) and each values-*.yaml.
CHART_VALUES = [
    "defaults",
    *sorted(p.stem.removeprefix("values-") for p in CHART.glob("values-*.yaml")),
]
# Everything the manifest checks run on: "kustomize-<overlay>" and "helm-<values>".
RENDERS = [f"kustomize-{o}" for o in OVERLAYS] + [f"helm-{v}" for v in CHART_VALUES]
# The release the chart is rendered as: its name is the prefix of every object (shop-...).
RELEASE, RELEASE_NAMESPACE = "shop", "shop"
# Where pyproject's dev extra asks for helm-python-sdk (its marker: where a wheel exists).
HELM_SDK_HAS_A_WHEEL = platform.machine() in ("x86_64", "AMD64") or sys.platform == "darwin"
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
def rendered(render: str) -> tuple[dict[str, Any], ...]:
    """The objects of one render of RENDERS (or "kustomize-base", the overlays' base)."""
    tool_name, _, variant = render.partition("-")
    if tool_name == "helm":
        return helm_rendered(variant)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the Makefile installs it where apt-get can)")
    folder = DEPLOY / "base" if variant == "base" else DEPLOY / "overlays" / variant
    out = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=True
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def helm_sdk() -> Any:
    """helm_python (helm-python-sdk, from the dev extra), or a skip where it has no wheel."""
    try:
        import helm_python
    except ImportError:
        if HELM_SDK_HAS_A_WHEEL:
            pytest.fail("helm-python-sdk is not installed: run `make install`")
        pytest.skip(
            f"helm-python-sdk has no wheel for {sys.platform}/{platform.machine()} "
            "(pyproject's marker leaves it out): the Helm chart is not rendered here"
        )
    return helm_python


def chart_values(variant: str) -> dict[str, Any] | None:
    """The values a render passes over the chart's defaults (None: the defaults alone)."""
    if variant == "defaults":
        return None
    loaded: dict[str, Any] = yaml.safe_load((CHART / f"values-{variant}.yaml").read_text())
    return loaded


def helm_render(values: dict[str, Any] | None, *, upgrade: bool = False) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` (offline: no cluster is asked)."""
    helm = helm_sdk()
    with helm.Chart.load(str(CHART)) as chart:
        manifests: dict[str, str] = chart.render(
            values,
            name=RELEASE,
            namespace=RELEASE_NAMESPACE,
            is_install=not upgrade,
            is_upgrade=upgrade,
        )
    return manifests


@cache
def helm_rendered(variant: str) -> tuple[dict[str, Any], ...]:
    manifests = helm_render(chart_values(variant))
    return tuple(
        doc
        for path, text in sorted(manifests.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    )


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
