"""The ``dataprep`` command line: a thin layer over the library.

Each command lives in its own module here and is imported only when it runs, so
``dataprep --help`` and ``dataprep validate`` never import torch or transformers.
Every error becomes a message and an exit code in one place: ``run_group``
(``dataprep.boundary``, which ``train``'s command line uses too).
"""

from __future__ import annotations

import importlib
import sys

import click

# The error boundary is its own module so that train's command line uses it without
# importing this one; the names stay importable from here.
from dataprep.boundary import (  # noqa: F401
    TRAIN_EXTRA_INSTALL,
    TRAIN_EXTRA_MODULES,
    missing_train_extra,
    run_group,
)

# name -> (module, attribute, one-line help). The help is here so that listing the
# commands imports none of them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "detect": ("dataprep.cli.detect", "detect", "Tell the format of each file, with the evidence."),
    "validate": (
        "dataprep.cli.validate",
        "validate",
        "Check files against their format's schema and meaning.",
    ),
    "convert": (
        "dataprep.cli.convert",
        "convert",
        "Convert a file to another format, losing nothing silently.",
    ),
    "prepare": (
        "dataprep.cli.prepare",
        "prepare",
        "Template, tokenize, mask and pack data for one model.",
    ),
    "check-template": (
        "dataprep.cli.check_template",
        "check_template",
        "Check which tokens a chat template trains, for one tokenizer.",
    ),
    "inspect": (
        "dataprep.cli.inspect",
        "inspect",
        "Show a prepared row with its trained tokens highlighted.",
    ),
    "recipe": ("dataprep.cli.recipe", "recipe", "Print and check the recipe a file amounts to."),
    "stats": (
        "dataprep.cli.stats",
        "stats",
        "Rows, turns, lengths and trainable share of a file or prepared folder.",
    ),
    "ui": (
        "dataprep.cli.ui",
        "ui",
        "See files, prepared rows, rejects and template checks in a browser.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dataprep")
def cli() -> None:
    """Fine-tuning data you can trust.

    \b
    A typical session:
      dataprep detect data.jsonl                 what format is this?
      dataprep validate data.jsonl               what is wrong with it, and where?
      dataprep convert data.jsonl --to messages -o clean.jsonl
      dataprep prepare clean.jsonl --tokenizer ./tok --max-length 2048 -o prepared/
      dataprep inspect prepared/ --row 0         which tokens are trained?

    Exit codes: 0 all good, 1 the data has problems, 2 the command was used wrongly,
    3 an internal error (the message names a log file with the details).
    """


def main(argv: list[str] | None = None) -> None:
    # File names that are not UTF-8 come back out as their own bytes, as ls prints them,
    # where a strict UTF-8 stdout would raise on them.
    for stream in (sys.stdout, sys.stderr):
        getattr(stream, "reconfigure", lambda **_: None)(errors="surrogateescape")
    run_group(cli, "dataprep", argv)
