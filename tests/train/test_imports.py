"""The modules of ``train`` import without cycles: each imports alone in a fresh
interpreter, and no two of them import each other (at the top or inside a function).

A cycle that works today works because of the order in which modules happen to be
imported; the first import of the other module alone breaks it. Function-level imports
count too: they defer a cycle, they do not remove it (``train.config`` and
``train.models`` imported each other that way).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "train"
MODULES = sorted(
    f"train.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")
)
# Back-edges still there, each with why (none today).
KNOWN_BACK_EDGES: set[tuple[str, str]] = set()


def imported_train_modules(module: str) -> set[str]:
    """The ``train.*`` modules that ``module``'s source imports, anywhere in the file."""
    path = PACKAGE / f"{module.removeprefix('train.')}.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from train import models` names a module; `from train import say` does not.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(n for n in names if n in MODULES)
    found.discard(module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle of ``graph`` found by depth-first search, each as a path that returns
    to its start.

    >>> cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}})
    [['a', 'b', 'a']]
    >>> cycles({"a": {"b"}, "b": set()})
    []
    """
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_the_graph_finds_imports():
    # Control: the parser sees both kinds of import this test is about.
    assert "train.config" in imported_train_modules("train.models")  # at the top
    assert "train.checkpoints" in imported_train_modules("train.config")  # in a function


def test_no_module_of_train_imports_itself_through_others():
    graph = {module: imported_train_modules(module) for module in MODULES}
    for source, target in KNOWN_BACK_EDGES:
        assert target in graph[source], f"{source} no longer imports {target}: drop the exception"
        graph[source].discard(target)
    assert cycles(graph) == []


# One interpreter, the package forgotten before each module: every ``train`` module is
# imported first, alone, while torch and transformers stay loaded (a cycle among our own
# modules shows just the same, at a fraction of a fresh interpreter per module).
ALONE = """
import importlib, sys, traceback
failed = []
for module in sys.argv[1:]:
    for name in [n for n in sys.modules if n == "train" or n.startswith("train.")]:
        del sys.modules[name]
    try:
        importlib.import_module(module)
    except Exception:
        failed.append(module + ":\\n" + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_each_module_imports_alone():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", ALONE, *MODULES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"modules that fail to import alone:\n{result.stdout}{result.stderr[-2000:]}"
    )
