"""Options several commands share read the same in every command (dataprep/cli/_options.py)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from dataprep.cli import COMMANDS, cli
from dataprep.cli._options import FIELD_HELP, FORMAT_HELP, ROLE_HELP
from dataprep.formats import FORMATS


def command(name: str) -> click.Command:
    found = cli.get_command(click.Context(cli), name)
    assert found is not None
    return found


def option(name: str, flag: str) -> click.Option | None:
    for param in command(name).params:
        if isinstance(param, click.Option) and flag in param.opts:
            return param
    return None


def declared(flag: str) -> dict[str, click.Option]:
    """Command name -> its ``flag`` option, for every command that has one."""
    options = {name: option(name, flag) for name in COMMANDS}
    return {name: o for name, o in options.items() if o is not None}


@pytest.mark.parametrize(
    ("flag", "commands"),
    [
        ("--field", {"detect", "validate", "convert", "prepare", "stats"}),
        ("--role", {"detect", "validate", "convert", "prepare", "stats"}),
        ("--format", {"validate", "prepare", "stats"}),
        ("--system", {"prepare", "check-template"}),
        ("--tokenizer", {"prepare", "check-template", "inspect", "stats"}),
        ("--jobs", {"validate", "convert"}),
        ("--chat-template", {"prepare", "check-template", "stats"}),
    ],
)
def test_a_shared_option_is_declared_alike_everywhere(flag, commands):
    options = declared(flag)
    assert set(options) == commands
    # One declaration: the same metavar, type, multiplicity; help may differ only where
    # the command says what it does with a tokenizer.
    shapes = {
        (o.metavar, repr(o.type), o.multiple, o.default if flag != "--tokenizer" else None)
        for o in options.values()
    }
    assert len(shapes) == 1, shapes
    if flag != "--tokenizer":
        assert len({o.help for o in options.values()}) == 1, {n: o.help for n, o in options.items()}


@pytest.mark.parametrize("flag", ["--field", "--role", "--format"])
def test_the_mapping_and_format_help_teach_by_example(flag):
    help_text = {"--field": FIELD_HELP, "--role": ROLE_HELP, "--format": FORMAT_HELP}[flag]
    assert {o.help for o in declared(flag).values()} == {help_text}
    assert "e.g." in help_text or "dataprep detect" in help_text


def test_convert_from_is_the_shared_format_option():
    from_ = option("convert", "--from")
    assert from_ is not None and from_.help == FORMAT_HELP
    assert list(from_.type.choices) == list(FORMATS)


@pytest.mark.parametrize("name", ["validate", "prepare", "stats"])
def test_an_unknown_format_is_a_usage_error(tmp_path, name):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "a"}\n')
    result = CliRunner().invoke(cli, [name, str(path), "--format", "nope"])
    assert result.exit_code == 2
    assert "'nope' is not one of" in result.output
