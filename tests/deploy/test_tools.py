"""The real linters find nothing that is not justified inline: hadolint, actionlint, checkov."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

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


def _checkov(*args: str) -> dict[str, object]:
    result = _run(tool("checkov"), "--skip-download", "--compact", "--output", "json", *args)
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report  # type: ignore[no-any-return]


@pytest.mark.parametrize("render", RENDERS)
def test_checkov_finds_nothing_unjustified_in_the_manifests(render: str, tmp_path: Path) -> None:
    # The Helm chart too, as rendered: checkov's own helm framework would need a helm binary.
    manifest = tmp_path / f"{render}.yaml"
    manifest.write_text(yaml.safe_dump_all(rendered(render)))
    report = _checkov("--framework", "kubernetes", "-f", str(manifest))
    failed = report["results"]["failed_checks"]  # type: ignore[index]
    assert not failed, [(c["check_id"], c["resource"]) for c in failed]
    # Each skip is an annotation "checkov.io/skipN: CHECK=why", and says why.
    skips = [
        value
        for doc in rendered(render)
        for key, value in doc["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
    ]
    assert len(report["results"]["skipped_checks"]) > 0  # type: ignore[index]
    for skip in skips:
        assert re.fullmatch(r"CKV_K8S_\d+=\S.{10,}", skip), skip


def test_checkov_finds_nothing_unjustified_in_the_terraform_and_dockerfile() -> None:
    for args in (
        ("--framework", "terraform", "-d", str(DEPLOY / "terraform")),
        ("--framework", "dockerfile", "-f", str(ROOT / "Dockerfile")),
    ):
        report = _checkov(*args)
        failed = report["results"]["failed_checks"]  # type: ignore[index]
        assert not failed, [(c["check_id"], c["resource"]) for c in failed]


def test_the_terraform_is_formatted() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: checkov checked the module without it")
    # `terraform validate` needs the providers, which cannot be downloaded here.
    result = _run(terraform, "fmt", "-check", "-recursive", str(DEPLOY / "terraform"))
    assert result.returncode == 0, result.stdout + result.stderr
