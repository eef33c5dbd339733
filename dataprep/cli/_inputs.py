"""The inputs of a command as the files it reads (``dataprep.reading.inputs``), with a
line on stderr for each Hub dataset saying what it resolved to: messages then name the
cached files (real files, so ``file:line`` opens in an editor), and this line ties them
to the Hub id."""

from __future__ import annotations

from collections.abc import Iterable

import click

from dataprep.errors import UsageError
from dataprep.reading.inputs import InputFile, describe, expand_inputs


def input_files(
    paths: Iterable[str],
    split: str | None = None,
    subset: str | None = None,
    revision: str | None = None,
) -> list[InputFile]:
    """The files ``paths`` stand for; each Hub dataset announced on stderr."""
    files = expand_inputs(paths, split=split, subset=subset, revision=revision)
    for line in describe(files):
        click.echo(f"note: {line}", err=True)
    return files


def one_file(
    path: str,
    split: str | None = None,
    subset: str | None = None,
    revision: str | None = None,
) -> str:
    """The one file a single-input command (convert, stats) reads for ``path``.

    A Hub split held in several files is refused with the path of each, since these
    commands read one file."""
    files = input_files([path], split, subset, revision)
    if len(files) == 1:
        return files[0].path
    names = "".join(f"\n  {f.url}" for f in files[:5])
    more = f"\n  ... and {len(files) - 5} more" if len(files) > 5 else ""
    raise UsageError(
        f"{path}: this split is {len(files)} files and this command reads one: "
        f"name one of them{names}{more}"
    )
