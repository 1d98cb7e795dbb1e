"""The Kubernetes manifests: they render, validate, are locked down, and name only what exists.

Each check runs on every render (tests/deploy/manifests.py RENDERS): the Kustomize overlays
and the Helm chart with each of its values files, the same checks for both."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
import typer.main
from fastapi import FastAPI
from starlette.routing import Route

from commands.http.app import create_command_api
from infra import apps
from infra.cli import cli
from infra.settings import Settings
from read_api.app import create_read_api
from security import jwks
from security.keys import KeySet
from tests.deploy.manifests import (
    KUBERNETES_VERSION,
    OVERLAYS,
    PORT_SETTING,
    RENDERS,
    SERVES,
    component,
    of_kind,
    pod_specs,
    rendered,
)
from tests.support.auth import route_table

PROCESSES = set(SERVES)

# Kinds from CRDs, which kubernetes-validate has no schema for: the fields their docs
# require at the top of spec (Istio, Prometheus Operator, Argo Rollouts, External Secrets).
CRD_SPEC: dict[tuple[str, str], set[str]] = {
    ("security.istio.io/v1", "PeerAuthentication"): {"mtls"},
    ("security.istio.io/v1", "AuthorizationPolicy"): set(),
    ("security.istio.io/v1", "RequestAuthentication"): {"selector", "jwtRules"},
    ("networking.istio.io/v1", "DestinationRule"): {"host", "trafficPolicy"},
    ("networking.istio.io/v1", "Gateway"): {"selector", "servers"},
    ("networking.istio.io/v1", "VirtualService"): {"hosts", "gateways", "http"},
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {"selector", "endpoints"},
    ("argoproj.io/v1alpha1", "Rollout"): {"workloadRef", "strategy", "selector"},
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): {"metrics"},
    ("external-secrets.io/v1", "SecretStore"): {"provider"},
    ("external-secrets.io/v1", "ExternalSecret"): {"secretStoreRef", "target"},
}


@pytest.mark.parametrize("render", RENDERS)
def test_every_render_validates_against_the_schemas(render: str) -> None:
    docs = rendered(render)
    assert {"dev", "prod"} <= set(OVERLAYS)
    assert {"helm-defaults", "helm-prod"} <= set(RENDERS)
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key in CRD_SPEC:
            assert CRD_SPEC[key] <= set(doc.get("spec", {})), f"{key} {doc['metadata']['name']}"
            continue
        # Strict: an unknown or misspelt field fails, as kubectl apply --validate would.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for process in PROCESSES:
        for kind in ("Deployment", "ServiceAccount", "PodDisruptionBudget", "ServiceMonitor"):
            assert (kind, f"shop-{process}") in names, (kind, process)
    assert ("Job", "shop-provision") in names


def test_prod_has_the_mesh_the_canary_and_the_secret_feeds() -> None:
    prod = rendered("kustomize-prod")  # the chart carries none of these (ADR 0031)
    kinds = {d["kind"] for d in prod}
    assert {"PeerAuthentication", "AuthorizationPolicy", "DestinationRule", "Gateway"} <= kinds
    assert {"Rollout", "AnalysisTemplate", "ExternalSecret", "Namespace"} <= kinds
    (peer,) = of_kind(prod, "PeerAuthentication")
    assert peer["spec"]["mtls"]["mode"] == "STRICT"
    assert "selector" not in peer["spec"]
    deny = [p for p in of_kind(prod, "AuthorizationPolicy") if p["spec"] == {}]
    assert deny, "no deny-all AuthorizationPolicy"
    for rule in of_kind(prod, "DestinationRule"):
        assert rule["spec"]["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"] > 0


@pytest.mark.parametrize("render", RENDERS)
def test_every_workload_has_probes_resources_and_a_locked_down_security_context(
    render: str,
) -> None:
    for name, pod in pod_specs(rendered(render)):
        assert pod["serviceAccountName"] == name, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), name
            if name != "shop-provision":  # a Job runs to completion: no probes
                assert {"livenessProbe", "readinessProbe"} <= set(container), name


def _api_routes() -> dict[str, set[str]]:
    """The health and metrics paths the real FastAPI apps serve (built without servers)."""
    command = create_command_api([], lambda: None)
    read = create_read_api(None, "x", None, None, list)  # type: ignore[arg-type]
    for api in (command, read):  # what the composition root adds to both: /metrics, docs
        apps._finish(api, Settings())

    def paths(api: FastAPI) -> set[str]:  # the endpoints and the plain Starlette routes (/metrics)
        plain = {route.path for route in api.routes if isinstance(route, Route)}
        return plain | {path for _, path, _ in route_table(api)}

    return {"command-api": paths(command), "read-api": paths(read)}


@pytest.mark.parametrize("render", RENDERS)
def test_each_probe_and_scrape_is_a_path_and_port_the_process_serves(render: str) -> None:
    docs = rendered(render)
    settings = Settings()
    for process, setting in PORT_SETTING.items():
        assert SERVES[process][0] == getattr(settings, setting), process
    routes = _api_routes()
    used: dict[str, set[str]] = {p: set() for p in PROCESSES}
    for deployment in of_kind(docs, "Deployment"):
        process = component(deployment)
        port, paths = SERVES[process]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe in container:
                get = container[probe]["httpGet"]
                assert named[get["port"]] == port, (process, probe)
                assert get["path"] in paths, (process, probe)
                used[process].add(get["path"])
    for monitor in of_kind(docs, "ServiceMonitor"):
        process = monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        (service,) = [
            s for s in of_kind(docs, "Service") if s["metadata"]["name"] == f"shop-{process}"
        ]
        for endpoint in monitor["spec"]["endpoints"]:
            (port,) = [p["port"] for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
            assert port == SERVES[process][0]
            assert endpoint["path"] in SERVES[process][1]
            used[process].add(endpoint["path"])
    for process, served in routes.items():
        assert used[process] <= served, (process, used[process] - served)
    assert used["relay"] >= {"/healthz", "/readyz", "/metrics"}


def test_the_command_api_publishes_the_token_keys_for_gateways(tmp_path: Any) -> None:
    from security.keys import ensure_development_key, load_key_set

    ensure_development_key(tmp_path)
    keys: KeySet = load_key_set(tmp_path)
    (key,) = jwks.public_jwks(keys)["keys"]
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert key["alg"] == "EdDSA"
    assert key["kid"] == keys.signing_kid
    assert "d" not in key
    paths = {
        path for _, path, _ in route_table(create_command_api([jwks.router(keys)], lambda: None))
    }
    assert jwks.JWKS_PATH in paths


@pytest.mark.parametrize("render", RENDERS)
def test_every_variable_in_a_config_map_is_a_real_setting(render: str) -> None:
    fields = {f"SHOP_{name.upper()}" for name in Settings.model_fields}
    for config in of_kind(rendered(render), "ConfigMap"):
        for variable, _value in config["data"].items():
            if config["metadata"]["name"].startswith("shop-telemetry"):
                assert variable.startswith("OTEL_"), variable  # OpenTelemetry's own names
                continue
            assert variable in fields, f"{variable} is not a field of infra.settings.Settings"
    # ...and they parse: a value Settings refuses would stop every pod at start.
    settings = [
        c for c in of_kind(rendered(render), "ConfigMap") if "settings" in c["metadata"]["name"]
    ]
    for config in settings:
        values = {k.removeprefix("SHOP_").lower(): v for k, v in config["data"].items()}
        Settings.model_validate(values)


def _cli_commands() -> set[tuple[str, ...]]:
    """Every command path of the real `shop` CLI, from typer's click group (typer vendors its
    own click, so groups are told by their ``commands``)."""
    found: set[tuple[str, ...]] = set()

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.add(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(cli), ())
    return found


@pytest.mark.parametrize("render", RENDERS)
def test_every_command_the_manifests_run_exists_in_the_shop_cli(render: str) -> None:
    commands = _cli_commands()
    group = typer.main.get_command(cli)
    for name, pod in pod_specs(rendered(render)):
        for container in pod["containers"]:
            assert "command" not in container, f"{name}: the image's entry point is shop"
            words = [a for a in container["args"] if not a.startswith("-")]
            path = tuple(w for i, w in enumerate(words) if tuple(words[: i + 1]) in commands)
            assert path, (name, container["args"])
            # The options parse too: click refuses an unknown one (exit 2, a usage error).
            leaf: Any = group
            for word in path:
                leaf = leaf.commands[word]
            leaf.make_context(" ".join(path), [a for a in container["args"] if a not in path])


@pytest.mark.parametrize("render", RENDERS)
def test_consumers_scale_no_further_than_the_partition_count(render: str) -> None:
    docs = rendered(render)
    (config,) = [
        c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith("shop-settings")
    ]
    partitions = int(config["data"]["SHOP_KAFKA_PARTITIONS"])
    scaled = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]
        for h in of_kind(docs, "HorizontalPodAutoscaler")
    }
    assert "shop-relay" not in scaled  # one publisher per context: not autoscaled
    for name in ("shop-worker", "shop-saga"):
        assert scaled[name]["maxReplicas"] <= partitions, name
    for name in ("shop-command-api", "shop-read-api"):
        (metric,) = scaled[name]["metrics"]
        assert metric["resource"]["name"] == "cpu"


@pytest.mark.parametrize("render", RENDERS)
def test_secrets_are_referenced_by_name_and_never_rendered(render: str) -> None:
    docs = rendered(render)
    assert not of_kind(docs, "Secret"), "a Secret with its keys would be in git"
    text = repr(docs)
    assert not re.search(r"postgres(ql)?://[^\"' ]*:[^\"' ]*@", text), "a password in a URL"
    referenced = set(
        re.findall(r"'(?:secretName|name)': '(shop-[a-z-]*keys|shop-connections)'", text)
    )
    assert {"shop-connections", "shop-keys", "shop-auth-signing-keys"} <= referenced


@pytest.mark.parametrize("render", RENDERS)
def test_the_network_is_closed_but_for_the_designed_flows(render: str) -> None:
    policies = {
        p["metadata"]["name"]: p["spec"] for p in of_kind(rendered(render), "NetworkPolicy")
    }
    deny = policies["shop-default-deny"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    for process in ("relay", "worker", "saga"):
        (rule,) = policies[f"shop-{process}-ingress"]["ingress"]
        assert [p["port"] for p in rule["ports"]] == [SERVES[process][0]]
