"""The tree shows the flow: the read side and the contract never reach the write side."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent

FORBIDDEN = {
    "read_api": {"streams", "commands"},
    "projections": {"streams", "commands"},
    "contract": {"commands", "streams", "projections", "read_api", "infra", "notifications"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every absolute import in the module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_none_of_the_packages_above_it(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, f"no modules under {package}/"
    reaching_up = {
        str(module.relative_to(ROOT)): sorted(imported_packages(module) & FORBIDDEN[package])
        for module in modules
        if imported_packages(module) & FORBIDDEN[package]
    }
    assert reaching_up == {}


def test_the_import_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from streams.relay import Relay\n    import commands.base\n")
    assert imported_packages(module) == {"streams", "commands"}
