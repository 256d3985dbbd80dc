"""The package's layout holds: imports point down the layers the README draws, no module imports another in a cycle,
and every module imports on its own.

A cycle that happens to work in one import order breaks in another (the first module a user's script imports);
so the graph of seqgen's imports (at module level and inside functions) must have no cycle, and each module must
import alone in a fresh interpreter. An import that points up (a concern reaching into the kinds, or into the app)
ties the layers below to the ones above: `data/` and `music/` could no longer be used, or tested, without models.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "seqgen"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(module_name(p) for p in PACKAGE.rglob("*.py"))


def imports_graph() -> dict[str, set[str]]:
    """Module -> the seqgen modules it imports anywhere in its text (`from seqgen.x import y` counts y if it is a module)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("seqgen"):
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("seqgen"))
        name = module_name(path)
        graph[name] = {m for m in found if m in MODULES and m != name and m != "seqgen"}  # the package's own __init__ is empty
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None (depth-first search with colours)."""
    colour = dict.fromkeys(graph, 0)  # 0 unseen, 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == 1:
                return path[path.index(nxt):] + [nxt]
            if colour[nxt] == 0 and (cycle := visit(nxt)):
                return cycle
        path.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if colour[node] == 0 and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_another_in_a_cycle():
    graph = imports_graph()
    assert {"seqgen.levels", "seqgen.data.tokenizers", "seqgen.training.trainer"} <= set(graph)
    assert "seqgen.data.tokenizers" in graph["seqgen.levels"]  # the walk sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


# Each layer and what its modules may import (their own layer included). The README's "How the code is laid out".
BASE = {"seqgen", "seqgen.errors", "seqgen.files", "seqgen.config", "seqgen.devices"}
LAYERS = {
    "base": {"base"},
    "data": {"base", "data"},
    "music": {"base", "data", "music"},  # note events, MIDI, scores: nothing of models, training or evaluation
    "models": {"base", "data", "models"},  # networks and decoding: nothing of training
    "training": {"base", "data", "music", "models", "training", "evaluation"},  # validation is a likelihood
    "evaluation": {"base", "data", "music", "models", "training", "evaluation"},  # it reads run folders
    "registries": {"base", "data", "music", "models", "training", "evaluation", "registries"},  # levels, architectures, kinds
    "app": {"base", "data", "music", "models", "training", "evaluation", "registries", "app"},  # cli, session, tables
}


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    part = module.split(".")[1]
    if part in ("data", "music", "models", "training", "evaluation"):
        return part
    if part in ("levels", "architectures", "kinds"):
        return "registries"
    if part in ("cli", "session", "tables", "__main__"):
        return "app"
    raise AssertionError(f"{module} belongs to no layer: add it to tests/test_layout.py and the README's layout")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} ({layer(a)}) imports {b} ({layer(b)})" for a, found in graph.items() for b in found if layer(b) not in LAYERS[layer(a)])


def test_imports_point_down_the_layers():
    graph = imports_graph()
    assert {layer(m) for m in graph} == set(LAYERS)  # every module has its layer, and every layer has modules
    assert upward_imports(graph) == []


def test_the_layer_check_finds_an_upward_import():
    """What the rule is for: music code that runs a model, or evaluation that reaches up into the kinds or the app."""
    graph = {"seqgen.music.sample": {"seqgen.models.generate", "seqgen.music.tokens"}, "seqgen.evaluation.plot": {"seqgen.kinds.pairs"},
             "seqgen.kinds.text": {"seqgen.session"}, "seqgen.session": {"seqgen.kinds.text", "seqgen.data.dataset"}}
    assert upward_imports(graph) == [
        "seqgen.evaluation.plot (evaluation) imports seqgen.kinds.pairs (registries)",
        "seqgen.kinds.text (registries) imports seqgen.session (app)",
        "seqgen.music.sample (music) imports seqgen.models.generate (models)",
    ]


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def import_alone(module: str) -> str | None:
    """None when `module` imports in a fresh interpreter; else the last line of the error."""
    res = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    return None if res.returncode == 0 else (res.stderr.strip().splitlines() or ["exit code %d" % res.returncode])[-1]


def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    assert len(MODULES) > 40
    with ThreadPoolExecutor(max_workers=4) as pool:  # one interpreter each; torch's import dominates
        errors = dict(zip(MODULES, pool.map(import_alone, MODULES)))
    assert {m: e for m, e in errors.items() if e} == {}
