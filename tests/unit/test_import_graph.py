"""The layers import downwards only (envs < agents < trainers < experiments) and no module
imports itself back through a cycle. Read from the source with `ast`, so imports inside
functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("envs", "agents", "trainers", "experiments")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in LAYERS}


def graph() -> dict[str, set[str]]:
    modules = {
        module_name(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")
    }
    edges = {}
    for name, path in modules.items():
        # `from pkg import mod` names a module; `from mod import func` names the module itself
        edges[name] = {
            target if target in modules else target.rpartition(".")[0]
            for target in imports_of(path, name)
        } & set(modules)
        edges[name].discard(name)
    return edges


def test_no_lower_layer_imports_a_higher_one():
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    bad = [
        f"{a} -> {b}"
        for a, targets in graph().items()
        for b in targets
        if rank[b.split(".")[0]] > rank[a.split(".")[0]]
    ]
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    edges = graph()
    # a package's __init__ re-exporting its own modules is not a cycle of meaning
    edges = {a: {b for b in bs if not a.startswith(b + ".")} for a, bs in edges.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_walk_sees_real_edges():
    edges = graph()
    assert "trainers.learn.samples" in edges["trainers.learn.scoring"]
    assert "envs" in {b.split(".")[0] for b in edges["trainers.selfplay"]}
