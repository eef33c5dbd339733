"""``train`` depends on ``dataprep`` through its contract only: the prepared folder's
contract (``dataprep.contract``), the error types (``dataprep.errors``) and the error
boundary (``dataprep.boundary``). Anything else of dataprep (its CLI, prepare's
internals) is free to change without breaking train."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TRAIN = Path(__file__).resolve().parents[2] / "train"
ALLOWED = {"dataprep.contract", "dataprep.errors", "dataprep.boundary"}


def dataprep_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import of a dataprep module in ``source``, at any depth
    (train imports lazily inside functions)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from dataprep import contract`` imports the module dataprep.contract.
            if node.module == "dataprep":
                names = [f"dataprep.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        else:
            continue
        found += [(node.lineno, n) for n in names if n == "dataprep" or n.startswith("dataprep.")]
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from dataprep.errors import TrainError", [(1, "dataprep.errors")]),
        ("def f():\n    from dataprep.cli import run_group", [(2, "dataprep.cli")]),
        ("import dataprep.prepare.identity", [(1, "dataprep.prepare.identity")]),
        ("from dataprep import contract, cli", [(1, "dataprep.contract"), (1, "dataprep.cli")]),
        ("from dataprepx import y\nimport os", []),
    ],
)
def test_the_scan_finds_every_dataprep_import(source, expected):
    assert dataprep_imports(source) == expected


@pytest.mark.parametrize("path", sorted(TRAIN.rglob("*.py")), ids=lambda p: p.name)
def test_train_imports_only_the_contract_errors_and_boundary(path):
    outside = [
        f"{path.name}:{line}: {module}"
        for line, module in dataprep_imports(path.read_text())
        if module not in ALLOWED
    ]
    assert outside == []
