"""The examples in docstrings (STYLE 12) run in the default ``pytest`` run, and pass.

A module of ``dataprep`` or ``train`` is picked up when its source has a ``>>>`` line, and
only those modules are imported: a module without examples (and the torch it may import)
is not loaded for nothing, while one whose examples need torch is still run. The examples
run from the repository root, so they may name files under ``samples/``.

``python -m pytest --doctest-modules dataprep train`` runs the same examples; this file
exists so that the plain test command runs them, and so that an example that silently
stops being collected (a docstring moved below an import, a ``>>>`` left in a comment)
fails here instead of vanishing.
"""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dataprep", "train")
PROMPT = re.compile(r"^[ \t]*>>>(?: |$)", re.MULTILINE)
# pytest's own doctest default, so both ways of running the examples agree.
OPTIONFLAGS = doctest.ELLIPSIS

# Modules that have carried examples for long; if discovery ever finds none of them, the
# parametrized tests below would silently be empty.
KNOWN = ["dataprep.canonical", "dataprep.convert.writing", "dataprep.detect", "dataprep.reading"]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def prompts_in_sources() -> dict[str, int]:
    """Module name -> how many ``>>>`` lines its source holds, for modules with any."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            count = len(PROMPT.findall(path.read_text(encoding="utf-8")))
            if count:
                found[module_name(path)] = count
    return found


PROMPTS = prompts_in_sources()


def collected(module: str) -> list[doctest.DocTest]:
    tests = doctest.DocTestFinder().find(importlib.import_module(module))
    return [t for t in tests if t.examples]


def test_modules_known_to_have_examples_are_found():
    assert set(KNOWN) <= set(PROMPTS)


@pytest.mark.parametrize("module", sorted(PROMPTS))
def test_every_example_in_the_source_is_collected(module):
    examples = sum(len(t.examples) for t in collected(module))
    assert examples == PROMPTS[module], (
        f"{module}: {PROMPTS[module]} '>>>' lines in the source but {examples} examples "
        "collected: is an example outside a docstring?"
    )


@pytest.mark.parametrize("module", sorted(PROMPTS))
def test_examples_pass(module, monkeypatch):
    monkeypatch.chdir(ROOT)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report: list[str] = []
    for test in collected(module):
        runner.run(test, out=report.append)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0
    assert results.failed == 0, "".join(report)
