"""The real linters find nothing that is not justified inline: hadolint, actionlint, checkov."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import DEPLOY, RENDERS, ROOT, rendered, tool


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # checkov would fetch its guidelines from its vendor's service: offline here, so it must not.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=240, env=env)


def test_the_dockerfile_is_hadolint_clean() -> None:
    result = _run(tool("hadolint"), "--failure-threshold", "info", "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("\nFROM ") == 2
    assert "\nUSER 10001" in text
    assert 'ENTRYPOINT ["shop"]' in text


def test_the_workflows_are_actionlint_clean() -> None:
    workflows = sorted(str(p) for p in (ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    result = _run(tool("actionlint"), *workflows)
    assert result.returncode == 0, result.stdout + result.stderr
    (ci,) = [yaml.safe_load(Path(w).read_text()) for w in workflows if w.endswith("ci.yml")]
    steps = [s.get("run", "") for job in ci["jobs"].values() for s in job["steps"]]
    assert any("make test" in s for s in steps)


@pytest.fixture(scope="module")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One checkov run over every render, the Terraform module and the Dockerfile, by
    framework. Each run loads all of checkov's checks first (about twenty seconds of CPU), so
    one run for all six inputs, each in a file of its own that the checks below pick out."""
    folder = tmp_path_factory.mktemp("checkov")
    # The Helm chart too, as rendered: checkov's own helm framework would need a helm binary.
    for render in RENDERS:
        (folder / f"{render}.yaml").write_text(yaml.safe_dump_all(rendered(render)))
    shutil.copytree(DEPLOY / "terraform", folder / "terraform")
    shutil.copy(ROOT / "Dockerfile", folder / "Dockerfile")
    frameworks = ("kubernetes", "terraform", "dockerfile")
    result = _run(
        tool("checkov"), "--skip-download", "--compact", "--output", "json",
        "-d", str(folder), "--framework", *frameworks,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    reports = json.loads(result.stdout)
    by_framework = {
        r["check_type"]: r for r in (reports if isinstance(reports, list) else [reports])
    }
    assert set(by_framework) == set(frameworks), by_framework.keys()  # every input was read
    return by_framework


def _checks(report: dict[str, Any], outcome: str, file: str) -> list[dict[str, Any]]:
    return [c for c in report["results"][outcome] if c["file_path"] == f"/{file}"]


@pytest.mark.parametrize("render", RENDERS)
def test_checkov_finds_nothing_unjustified_in_the_manifests(
    render: str, checkov: dict[str, dict[str, Any]]
) -> None:
    report = checkov["kubernetes"]
    failed = _checks(report, "failed_checks", f"{render}.yaml")
    assert not failed, [(c["check_id"], c["resource"]) for c in failed]
    # Each skip is an annotation "checkov.io/skipN: CHECK=why", and says why.
    skips = [
        value
        for doc in rendered(render)
        for key, value in doc["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
    ]
    assert len(_checks(report, "skipped_checks", f"{render}.yaml")) > 0
    for skip in skips:
        assert re.fullmatch(r"CKV_K8S_\d+=\S.{10,}", skip), skip


def test_checkov_finds_nothing_unjustified_in_the_terraform_and_dockerfile(
    checkov: dict[str, dict[str, Any]],
) -> None:
    for framework in ("terraform", "dockerfile"):
        report = checkov[framework]
        assert report["summary"]["resource_count"] > 0  # the module and the image were read
        failed = report["results"]["failed_checks"]
        assert not failed, [(c["check_id"], c["resource"]) for c in failed]


def test_the_terraform_is_formatted() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: checkov checked the module without it")
    # `terraform validate` needs the providers, which cannot be downloaded here.
    result = _run(terraform, "fmt", "-check", "-recursive", str(DEPLOY / "terraform"))
    assert result.returncode == 0, result.stdout + result.stderr
