"""Meta-tests: the contracts between formats, schemas, samples, commands and the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dataprep.cli import COMMANDS, cli
from dataprep.formats import FORMATS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_format_has_schema_and_sample(name):
    assert (ROOT / "schemas" / f"{name}.schema.json").is_file()
    assert (ROOT / "samples" / f"{name}.jsonl").is_file()
    assert name == FORMATS[name].NAME


def test_no_schema_or_sample_without_a_format():
    schemas = {
        p.name.removesuffix(".schema.json") for p in (ROOT / "schemas").glob("*.schema.json")
    }
    assert schemas == set(FORMATS)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_sample_row_detects_as_its_format_only(name):
    lines = (ROOT / "samples" / f"{name}.jsonl").read_bytes().splitlines()
    assert len(lines) >= 5, "samples should be realistic, not a single row"
    for number, line in enumerate(lines, 1):
        row = orjson.loads(line)
        matching = [f for f, module in FORMATS.items() if module.detect(row)]
        assert matching == [name], f"samples/{name}.jsonl:{number} detected as {matching}"
        FORMATS[name].to_canonical(row)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_sample_validates_clean(name):
    result = CliRunner().invoke(cli, ["validate", str(ROOT / "samples" / f"{name}.jsonl")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_dataprep_command_has_help_and_is_in_readme(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) > 5
    assert f"dataprep {command}" in README


@pytest.mark.parametrize(
    "command", ["sft", "dpo", "kto", "orpo", "simpo", "reward", "eval", "merge", "check"]
)
def test_every_train_command_is_in_readme(command):
    assert f"train {command}" in README


def test_readme_shows_the_ci_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in README and "make demo" in README


def test_light_commands_do_not_import_the_heavy_stack():
    code = (
        "import sys\n"
        "from dataprep.cli import main\n"
        "try:\n"
        f"    main(['validate', {str(ROOT / 'samples' / 'messages.jsonl')!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'datasets') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "HEAVY=", out.stdout


def test_every_package_ships_in_the_wheel():
    """pyproject lists packages by hand: a new package folder left out of it installs in
    editable mode and is missing from the wheel."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("dataprep", "train")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)


def _readme_block(first_line: str) -> str:
    """The fenced block of the README whose first line is ``first_line``."""
    import re

    for block in re.findall(r"```(?:yaml|bash)?\n(.*?)```", README, flags=re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"no README block starting with {first_line!r}")


def test_readme_recipe_and_axolotl_examples_read_as_the_readme_says(tmp_path):
    from dataprep.recipe.axolotl import read_axolotl
    from dataprep.recipe.model import load_recipe

    (tmp_path / "mix.yaml").write_text(_readme_block("# mix.yaml"))
    recipe = load_recipe(str(tmp_path / "mix.yaml"))
    assert [s.amount for s in recipe.sources] == ["weight 3", "500 rows", "fraction 0.25"]
    assert (recipe.seed, recipe.max_length, recipe.eval_fraction, recipe.dedup) == (
        7,
        2048,
        0.05,
        True,
    )
    (tmp_path / "axolotl.yaml").write_text(_readme_block("# axolotl.yaml"))
    axo, report = read_axolotl(str(tmp_path / "axolotl.yaml"))
    assert not report.fails, report.lines()
    assert (axo.tokenizer, axo.max_length, axo.pack, axo.eval_fraction, axo.output) == (
        "./tok",
        2048,
        True,
        0.05,
        "prepared/",
    )
    assert [s.format for s in axo.sources] == ["messages", "alpaca"]


def test_readme_prepare_commands_use_only_flags_prepare_has():
    import re

    help_text = CliRunner().invoke(cli, ["prepare", "--help"]).output
    commands = re.findall(r"dataprep prepare [^\n]*(?:\\\n[^\n]*)*", README)
    flags = {f for c in commands for f in re.findall(r"(?<![\w-])--[a-z][a-z-]*", c.split("#")[0])}
    assert {"--dataset", "--tokenizer", "--max-length"} <= flags
    assert [f for f in sorted(flags) if f not in help_text] == []
