"""The Helm chart (infra/deploy/helm/shop): it lints, renders what the Kustomize base renders,
sizes production as the prod overlay does, and its toggles and guards work.

The checks every deployment must pass (schemas, probes, security, settings, commands, network,
checkov) run on the chart's renders in test_manifests.py and test_tools.py; here is only what
is the chart's own: helm lint, and that it has not drifted from the Kustomize base, which is
the source of truth (ADR 0031)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import (
    CHART,
    CHART_VALUES,
    KUBERNETES_VERSION,
    chart_values,
    helm_render,
    helm_sdk,
    of_kind,
    rendered,
)

INSTANCE = "app.kubernetes.io/instance"  # the chart's selectors add the release; the base has none


def _docs(manifests: dict[str, str]) -> list[dict[str, Any]]:
    return [
        doc
        for path, text in sorted(manifests.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def _by_name(docs: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> object, with Kustomize's ConfigMap hash suffixes taken off."""
    found = {}
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "ConfigMap":
            name = re.sub(r"-[a-z0-9]{10}$", "", name)
        found[(doc["kind"], name)] = doc
    return found


def _comparable(doc: dict[str, Any]) -> Any:
    """What must be equal between the chart and the base: the object without its metadata,
    labels and annotations (the chart adds Helm's, the base Kustomize's), image (each sets its
    own registry and tag), and ConfigMap names (Kustomize hashes them; the chart's provision
    hook reads a copy of the settings under its own name, checked to be equal below)."""
    body = {k: copy.deepcopy(v) for k, v in doc.items() if k not in ("metadata", "apiVersion")}
    if doc["kind"] in ("Deployment", "Job"):
        body["spec"].pop("replicas", None)  # checked on its own below
        body["spec"]["template"].pop("metadata", None)
        for container in body["spec"]["template"]["spec"]["containers"]:
            container.pop("image")
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    name = re.sub(r"-[a-z0-9]{10}$", "", source["configMapRef"]["name"])
                    source["configMapRef"]["name"] = name.replace(
                        "-provision-settings", "-settings"
                    )

    def without_instance(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: without_instance(v) for k, v in value.items() if k != INSTANCE}
        if isinstance(value, list):
            return [without_instance(v) for v in value]
        return value

    return without_instance(body)


@pytest.mark.parametrize("values", CHART_VALUES)
def test_the_chart_lints_clean(values: str) -> None:
    helm = helm_sdk()
    report = helm.lint(
        str(CHART), chart_values(values), strict=True, kube_version=f"v{KUBERNETES_VERSION}"
    )
    assert report["total_charts_linted"] == 1
    assert not report["errors"], report
    # Severity 2 is a warning, 3 an error; 1 (info, e.g. "icon is recommended") is advice.
    assert not [m for m in report["messages"] if m["severity"] >= 2], report["messages"]


def test_the_chart_renders_what_the_kustomize_base_renders() -> None:
    chart, base = _by_name(rendered("helm-defaults")), _by_name(rendered("kustomize-base"))
    hooks = {key for key, doc in chart.items() if "helm.sh/hook" in _annotations(doc)}
    assert hooks == {
        ("ServiceAccount", "shop-provision"),
        ("ConfigMap", "shop-provision-settings"),
        ("Job", "shop-provision"),
    }
    assert set(chart) - {("ConfigMap", "shop-provision-settings")} == set(base)
    for key, doc in base.items():
        assert _comparable(chart[key]) == _comparable(doc), key
    # The provision hook's settings are the processes' settings.
    assert (
        chart[("ConfigMap", "shop-provision-settings")]["data"]
        == chart[("ConfigMap", "shop-settings")]["data"]
    )
    # Replicas: the base's where nothing autoscales; an autoscaled Deployment leaves them to
    # its HPA (so that an upgrade does not reset them), which starts from the same minimum.
    scaled = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in of_kind(tuple(chart.values()), "HorizontalPodAutoscaler")
    }
    for (kind, name), doc in base.items():
        if kind != "Deployment":
            continue
        if name in scaled:
            assert "replicas" not in chart[(kind, name)]["spec"], name
        else:
            assert chart[(kind, name)]["spec"]["replicas"] == doc["spec"]["replicas"], name


def _annotations(doc: dict[str, Any]) -> dict[str, str]:
    return dict(doc["metadata"].get("annotations") or {})


def test_the_chart_sizes_production_as_the_prod_overlay() -> None:
    chart, overlay = _by_name(rendered("helm-prod")), _by_name(rendered("kustomize-prod"))
    assert (
        chart[("ConfigMap", "shop-settings")]["data"]
        == overlay[("ConfigMap", "shop-settings")]["data"]
    )
    for (kind, name), doc in overlay.items():
        if kind == "HorizontalPodAutoscaler":
            for bound in ("minReplicas", "maxReplicas"):
                assert chart[(kind, name)]["spec"][bound] == doc["spec"][bound], (name, bound)
        if kind == "Deployment":
            (ours,) = chart[(kind, name)]["spec"]["template"]["spec"]["containers"]
            (theirs,) = doc["spec"]["template"]["spec"]["containers"]
            assert ours["resources"] == theirs["resources"], name


def test_worker_and_saga_cannot_be_set_to_scale_past_the_partitions() -> None:
    helm = helm_sdk()
    too_many = {"processes": {"worker": {"autoscaling": {"maxReplicas": 13}}}}
    with pytest.raises(helm.HelmError, match=r"exceeds settings.kafka_partitions \(12\)"):
        helm_render(too_many)
    # Raising the partitions with them is the way.
    more = {**too_many, "settings": {"kafka_partitions": 13}}
    (hpa,) = [
        h
        for h in _docs(helm_render(more))
        if h["metadata"]["name"] == "shop-worker" and h["kind"] == "HorizontalPodAutoscaler"
    ]
    assert hpa["spec"]["maxReplicas"] == 13


def test_service_monitors_and_network_policies_are_toggles() -> None:
    kinds = {d["kind"] for d in _docs(helm_render({"serviceMonitors": {"enabled": False}}))}
    assert "ServiceMonitor" not in kinds
    assert {"Deployment", "NetworkPolicy", "HorizontalPodAutoscaler"} <= kinds
    kinds = {d["kind"] for d in _docs(helm_render({"networkPolicy": {"enabled": False}}))}
    assert "NetworkPolicy" not in kinds
    assert "ServiceMonitor" in kinds


@pytest.mark.parametrize("upgrade", [False, True], ids=["install", "upgrade"])
def test_provisioning_is_a_hook_that_runs_before_the_processes(upgrade: bool) -> None:
    docs = _by_name(_docs(helm_render(None, upgrade=upgrade)))
    job = docs[("Job", "shop-provision")]
    annotations = _annotations(job)
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["provision", "--json"]
    # What the hook's pod needs from the chart is a hook too, created before it (a lower
    # weight): a pre-install hook runs before the release's own objects exist.
    needs = [("ServiceAccount", pod["serviceAccountName"])] + [
        ("ConfigMap", source["configMapRef"]["name"])
        for source in container["envFrom"]
        if "configMapRef" in source
    ]
    for key in needs:
        theirs = _annotations(docs[key])
        assert theirs.get("helm.sh/hook") == annotations["helm.sh/hook"], key
        assert int(theirs["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"]), key
    # The long-running processes' own ServiceAccounts and ConfigMaps are not hooks.
    for (kind, name), doc in docs.items():
        if kind == "Deployment":
            assert "helm.sh/hook" not in _annotations(doc), name


def test_the_name_prefix_renames_every_object_but_not_the_secrets_it_names() -> None:
    docs = _docs(helm_render({"fullnameOverride": "store"}))
    assert all(d["metadata"]["name"].startswith("store-") for d in docs)
    text = repr(docs)
    assert "'shop-connections'" in text  # Secrets are named by secrets.*, as they exist
    assert "'shop-keys'" in text
    (worker,) = [
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "store-worker"
    ]
    assert worker["spec"]["template"]["spec"]["serviceAccountName"] == "store-worker"
