"""The tree shows the flow: no import cycle between our modules, the composition root
imports nothing of the read side, the read side nothing of the write side or the streams,
and the README's read-model example is the real one."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from infra import bootstrap
from infra.read_models import BY_NAME, READ_MODELS, REBUILDABLE

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "commands",
    "domain",
    "infra",
    "notifications",
    "projections",
    "read_api",
    "security",
    "streams",
    "contract",
)


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_on_load(path: Path, modules: set[str]) -> set[str]:
    """Our modules that ``path`` imports when it is loaded: module-level statements only
    (an import inside a function runs later; one under TYPE_CHECKING never)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    modules = {_module(p) for p in paths}
    return {_module(p): _imports_on_load(p, modules) - {_module(p)} for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other_even_through_others() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_composition_root_does_not_load_the_read_side() -> None:
    graph = import_graph()
    loaded, todo = set(), ["infra.bootstrap"]
    while todo:
        module = todo.pop()
        if module not in loaded:
            loaded.add(module)
            todo.extend(graph[module])
    read_side = (
        "infra.read_models",
        "infra.rebuild",
        "notifications.notifier",
        "projections.sinks",
        "read_api",
    )
    assert sorted(m for m in loaded if m.startswith(read_side)) == []


# The read side: what consumes the bus and answers queries. It knows the contract (envelope,
# metadata, payloads, trace context) and the domain's values, never the write side's
# services or the stream machinery that feeds it; the composition root (infra) joins them.
READ_SIDE = ("projections", "read_api", "notifications", "contract")
WRITE_SIDE_AND_STREAMS = ("commands", "streams")


def _everything_imported(path: Path) -> set[str]:
    """Every module ``path`` names in an import, wherever the statement stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_nothing_in_the_read_side_imports_the_write_side_or_the_streams() -> None:
    offenders = {
        f"{path.relative_to(ROOT)} imports {name}"
        for package in READ_SIDE
        for path in (ROOT / package).rglob("*.py")
        for name in _everything_imported(path)
        if name.split(".")[0] in WRITE_SIDE_AND_STREAMS
    }
    assert sorted(offenders) == []


MAX_MODULE_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    """A longer module is two subjects: split it along its own headings."""
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    lengths = {path: len((ROOT / path).read_text().splitlines()) for path in tracked}
    assert {p: n for p, n in lengths.items() if n > MAX_MODULE_LINES} == {}


def test_every_read_model_follows_known_contexts_under_a_name_of_its_own() -> None:
    assert len(BY_NAME) == len(READ_MODELS)
    assert len(REBUILDABLE) == sum(1 for m in READ_MODELS if m.rebuild is not None)
    for model in READ_MODELS:
        assert set(model.contexts) <= set(bootstrap.CONTEXTS), model.name


def test_the_readme_shows_a_real_registry_entry() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Adding a read model") :]
    example, routes = re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)[:2]
    (entry,) = re.findall(r"^    ReadModel\(\n.*?^    \),\n", example, re.S | re.M)
    source = (ROOT / "infra" / "read_models.py").read_text()
    assert entry in source
    assert routes in source


def test_the_cli_relay_and_worker_start_without_fastapi() -> None:
    """Only the two APIs need FastAPI and the routes; importing them was about half of every
    CLI command's and worker's start (the suite starts dozens of each)."""
    probe = "import sys, infra.cli, infra.read_models, streams.worker, streams.relay, streams.saga"
    probe += "; print(sorted(m for m in sys.modules if m.split('.')[0] == 'fastapi'))"
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "[]"
