"""The import graph shows the architecture: no circles, layers apart, dev tools out of the run path.

Every `import` and `from … import` (lazy ones inside functions included) of every module under
brewlake/, bronze/, silver/ and gold/ is read from its AST; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("brewlake", "bronze", "silver", "gold")
LAYERS = ("bronze", "silver", "gold")
CORE_PACKAGES = ("runtime", "ops", "cli", "airflow", "devkit")
# `python -m brewlake.devkit.demo` is an entry point of its own: it prints like `brewlake sql`.
CLI_ENTRY_POINTS = {"brewlake.devkit.demo"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


MODULES = project_modules()


def resolve(name: str) -> str | None:
    """The project module `name` means (a module, or the package holding a name), else None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")
                if MODULES[module].name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - node.level + 1]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            targets = [f"{prefix}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = resolve(target)
            if resolved and resolved != module:
                found.add(resolved)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def part(module: str) -> str:
    """bronze | silver | gold | brewlake (core) | brewlake.<runtime|ops|cli|airflow|devkit>."""
    pieces = module.split(".")
    if pieces[0] == "brewlake" and len(pieces) > 1 and pieces[1] in CORE_PACKAGES:
        return f"brewlake.{pieces[1]}"
    return pieces[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read():
    assert "brewlake.runtime.job" in GRAPH["silver.job"]
    assert "brewlake.ops.monitor" in GRAPH["brewlake.runtime.job"]  # a lazy import counts


def test_no_import_circle():
    assert cycles(GRAPH) == []


def test_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_the_core_never_another_layer(layer):
    allowed = {layer, "brewlake", "brewlake.runtime"}
    wrong = sorted(
        f"{src} -> {dst}"
        for src, dsts in GRAPH.items()
        if part(src) == layer
        for dst in dsts
        if part(dst) not in allowed
    )
    assert wrong == []


def test_the_core_imports_only_the_core():
    wrong = sorted(
        f"{src} -> {dst}"
        for src, dsts in GRAPH.items()
        if part(src) == "brewlake"
        for dst in dsts
        if part(dst) != "brewlake"
    )
    assert wrong == []


def test_dev_tools_stay_out_of_the_run_path():
    wrong = [
        f"{src} -> {dst}"
        for src, dsts in GRAPH.items()
        if part(src) not in ("brewlake.devkit", "brewlake.cli")
        for dst in dsts
        if part(dst) == "brewlake.devkit"
    ]
    assert wrong == []


def test_nothing_imports_the_cli():
    wrong = [
        f"{src} -> {dst}"
        for src, dsts in GRAPH.items()
        if part(src) != "brewlake.cli" and src not in CLI_ENTRY_POINTS
        for dst in dsts
        if part(dst) == "brewlake.cli"
    ]
    assert wrong == []
