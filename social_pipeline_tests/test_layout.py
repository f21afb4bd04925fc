"""The package's layers, checked from its own imports (function-level ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "social_pipeline"

# What each room may import from the package (itself always). Data flows one way:
# core <- clients / normalize / storage / sandbox <- operations <- defs / app.
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "clients": {"core"},
    "normalize": {"core"},
    "storage": {"core"},
    "sandbox": {"core"},
    "environment": {"core", "sandbox"},
    "operations": {"core", "clients", "normalize", "storage"},
    "defs": {"core", "clients", "normalize", "storage", "operations", "environment"},
    "definitions": set(),
    "app": {
        "core",
        "clients",
        "storage",
        "operations",
        "environment",
        "defs",
        "definitions",
        "sandbox",
    },
}
# Dagster stays in the Dagster layer and the one launcher that starts runs.
DAGSTER_ALLOWED = ("defs.", "definitions", "app.launch")


def module_imports() -> dict[str, set[str]]:
    """`room.module` -> every module of ours it imports, wherever in the file."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        found[name] = targets
    return found


def ours(targets: set[str], modules: set[str]) -> set[str]:
    names = {
        t.removeprefix("social_pipeline.") for t in targets if t.startswith("social_pipeline.")
    }
    return {n for n in names if n in modules}


def test_every_import_points_down_the_layers() -> None:
    graph = module_imports()
    wrong = []
    for module, targets in graph.items():
        room = module.split(".")[0]
        if room == "__init__":
            continue
        for target in ours(targets, set(graph)):
            target_room = target.split(".")[0]
            if target_room != room and target_room not in MAY_IMPORT[room]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_two_modules_import_each_other_even_through_others() -> None:
    graph = module_imports()
    edges = {m: ours(t, set(graph)) - {m} for m, t in graph.items()}
    # A package's __init__ is imported with any of its modules; count only real edges.
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_only_the_dagster_layer_imports_dagster() -> None:
    graph = module_imports()
    users = sorted(
        m
        for m, targets in graph.items()
        if any(t == "dagster" or t.startswith("dagster.") for t in targets)
    )
    assert users and all(m.startswith(DAGSTER_ALLOWED) for m in users), users


def test_the_top_of_the_package_holds_at_most_four_loose_modules() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= 4, loose
