"""Options several commands share, declared once so that each reads the same in every
command's help: ``--field``/``--role`` (a file's own keys and roles read as ours),
``--format`` (``--from`` in ``convert``), ``--jobs``, ``--tokenizer`` and ``--system``.

The chat-template options are in ``_template``, ``--max-row-bytes`` in ``_rows``. Each
function here puts its option(s) on a command, which receives them under the names it
always had (``fields``, ``roles``, ...).

>>> @click.command()
... @mapping_options
... def show(fields, roles):
...     click.echo(f"{fields} {roles}")
>>> from click.testing import CliRunner
>>> CliRunner().invoke(show, ["--field", "messages=dialog", "--role", "bot=assistant"]).output
"('messages=dialog',) ('bot=assistant',)\\n"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from dataprep.formats import FORMATS

F = TypeVar("F", bound=Callable[..., Any])

FIELD_HELP = (
    "Read your key YOURS as our field OURS, at the top of each row or inside each message "
    "(repeatable): e.g. --field messages=dialog --field content=text."
)
ROLE_HELP = (
    "Read your role YOURS as our role OURS (repeatable): e.g. --role bot=assistant "
    "--role human=user."
)
FORMAT_HELP = (
    "Read the rows as this format [default: each row as the format its shape shows; "
    "see `dataprep detect`]."
)
TOKENIZER_WHAT = "a folder, or a name in the local Hugging Face cache"


def mapping_options(f: F) -> F:
    """``--field OURS=YOURS`` and ``--role YOURS=OURS``; the command receives ``fields``
    and ``roles`` (the specs as given; ``Mapping.from_specs`` reads them)."""
    f = click.option("--role", "roles", multiple=True, metavar="YOURS=OURS", help=ROLE_HELP)(f)
    return click.option("--field", "fields", multiple=True, metavar="OURS=YOURS", help=FIELD_HELP)(
        f
    )


def format_option(flag: str = "--format", dest: str = "format_") -> Callable[[F], F]:
    """The input format, one of ours, as ``dest`` (None: each row by its shape)."""
    return click.option(flag, dest, type=click.Choice(list(FORMATS)), help=FORMAT_HELP)


def jobs_option(f: F) -> F:
    """``--jobs``: processes for a large plain JSONL input; the command receives ``jobs``."""
    return click.option(
        "--jobs",
        type=click.IntRange(min=1),
        default=None,
        help="Processes for a large plain JSONL input (default: as many as the load allows).",
    )(f)


def tokenizer_option(
    purpose: str = "The tokenizer", *, default: str | None = None, required: bool = False
) -> Callable[[F], F]:
    """``--tokenizer``; ``purpose`` says what the command does with it, ``default`` what
    it uses without one."""
    help_text = f"{purpose} ({TOKENIZER_WHAT})"
    if default:
        help_text += f" [default: {default}]"
    return click.option("--tokenizer", required=required, help=help_text + ".")


def system_option(f: F) -> F:
    """``--system``: a default system prompt; the command receives ``system``."""
    return click.option("--system", help="A system prompt for the conversations that have none.")(f)


HUB_HELP_TAIL = (
    "Applies to Hub inputs (ORG/NAME, hf://datasets/ORG/NAME[@REV][/PATH]): their files are "
    "fetched into the Hugging Face cache, or with HF_HUB_OFFLINE=1 read from it (a dataset "
    "not cached is an error, exit 2)."
)


def hub_options(f: F) -> F:
    """``--split``, ``--subset``, ``--revision`` for inputs that are Hub datasets; the
    command receives ``split``, ``subset`` and ``revision`` (None when not given) and
    passes them to ``dataprep.cli._inputs.input_files``."""
    f = click.option(
        "--revision",
        metavar="REV",
        help="The branch, tag or commit of Hub inputs [default: main; the commit it "
        "resolves to is what is read, and what prepare records].",
    )(f)
    f = click.option(
        "--subset",
        metavar="NAME",
        help="The subset (config) of Hub inputs, or of a local folder laid out like a Hub "
        "repo [default: the dataset's default subset].",
    )(f)
    return click.option(
        "--split",
        metavar="NAME",
        help="The split of Hub inputs, or of a local folder laid out like a Hub repo "
        "[default: train, or the only split]. " + HUB_HELP_TAIL,
    )(f)
