"""The package's shape, read from its source with ast (nothing imported): layers import only downward, no module
imports itself in a circle, and the shared names are defined once.

Every import counts, those inside functions too: a lazy import kept for speed is fine, one that hides a cycle fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import darkedge.names

PACKAGE = Path(darkedge.names.__file__).parent

# Lowest first. A name is a top-level module (the package root "darkedge" included) or a whole subpackage; a
# module may import from its own layer or any layer below.
LAYERS = [
    ("darkedge", "errors", "names", "cores", "fileio", "logs", "settings", "feeding", "config", "checkpoint"),
    ("data",),
    ("enhance",),
    ("models",),
    ("run", "factory"),
    ("train",),
    ("runtime",),
    ("export",),
    ("quant",),
    ("infer",),
    ("bench",),  # measures the rest, infer on cameras included
    ("cli", "__main__"),
]
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, Path]:
    """darkedge's modules by dotted name (a package by its own name)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The darkedge modules `path` imports, anywhere in the file (`from package import submodule` names it)."""
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names if alias.name.split(".")[0] == "darkedge"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "darkedge":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                targets.add(sub if sub in MODULES else node.module)
    return targets


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_every_module_has_a_layer():
    assert {_unit(m) for m in MODULES} <= set(LEVEL), {_unit(m) for m in MODULES} - set(LEVEL)
    assert all(target in MODULES for targets in GRAPH.values() for target in targets)


def test_layers_import_only_downward():
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if LEVEL[_unit(target)] > LEVEL[_unit(module)]
    ]
    assert not upward


def test_no_import_cycle():
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                return [*path, module, target]
            if target not in state and (cycle := visit(target, [*path, module])):
                return cycle
        state[module] = "done"
        return None

    for module in sorted(MODULES):
        if module not in state:
            cycle = visit(module, [])
            assert cycle is None, " -> ".join(cycle)


def test_the_names_module_imports_nothing_and_its_names_are_defined_nowhere_else():
    names_tree = ast.parse(MODULES["darkedge.names"].read_text())
    assert not [n for n in ast.walk(names_tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    shared = {
        target.id
        for node in names_tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    values = {
        getattr(darkedge.names, name) for name in shared if isinstance(getattr(darkedge.names, name), str)
    }
    for module, path in MODULES.items():
        if module == "darkedge.names":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                defined = {t.id for t in node.targets if isinstance(t, ast.Name)} & shared
                assert not defined, f"{module}:{node.lineno} defines {defined} again"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in values, f"{module}:{node.lineno} spells {node.value!r} out"
