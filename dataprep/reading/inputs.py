"""The inputs a command names, as the files it reads: one function for every command.

A local file (or ``-``, or a folder saved with ``save_to_disk``) is read as it is. A Hub
id (``ORG/NAME``, ``hf://datasets/ORG/NAME[@REV][/PATH]``) becomes the files of one split
of one subset in the Hugging Face cache (``hub.resolve_hub``: fetched when online, found
in the cache when ``HF_HUB_OFFLINE`` is set). A local folder laid out like a Hub dataset
repo (a clone: ``data/train-*.parquet``, ``train.jsonl``, a README with ``configs:``)
becomes the files of one split by the same rules (``hub.resolve_folder``), when
``--split`` or ``--subset`` asks for it. A glob (``shards/*.jsonl``, ``data/**/*.parquet``,
quoted so that the shell leaves it) that names no existing file becomes the files it
matches, sorted by name.

    >>> [f.path for f in expand_inputs(["rows.jsonl", "-"])]
    ['rows.jsonl', '-']
    >>> expand_inputs(["rows.jsonl"], split="test")
    Traceback (most recent call last):
    dataprep.errors.UsageError: --split applies to a Hub dataset (ORG/NAME, hf://datasets/ORG/NAME) or a folder laid out like one, and no input is one
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dataprep.errors import UsageError

if TYPE_CHECKING:
    from dataprep.reading.hub import HubSource

SHA_SHOWN = 7  # the commit as a person reads it; manifests keep the whole sha


@dataclass(frozen=True, slots=True)
class InputFile:
    """One file a command reads. ``path`` is where it is read (a local path, ``-``, or a
    file in the hub cache); ``hub`` the Hub dataset it came from, ``repo_file`` its path
    inside that repo (or inside the local folder laid out like one)."""

    path: str
    hub: HubSource | None = None
    repo_file: str | None = None

    @property
    def url(self) -> str:
        """The exact name of the file: ``hf://datasets/ORG/NAME@SHA/PATH`` for a Hub file
        (stable across machines, unlike the cache path), else the path."""
        if self.hub is None:
            return self.path
        return f"{self.hub.url}/{self.repo_file}"


def expand_inputs(
    paths: Iterable[str],
    *,
    split: str | None = None,
    subset: str | None = None,
    revision: str | None = None,
) -> list[InputFile]:
    """The files the inputs ``paths`` stand for, in order (see the module docstring).

    ``split``, ``subset`` and ``revision`` apply to every Hub input (``split``/``subset``
    also to a local folder laid out like a Hub repo); given with no input they apply to,
    they are a UsageError, as is a Hub problem the user can fix (``HubDatasetError``).
    """
    out: list[InputFile] = []
    used = False  # whether --split/--subset applied to some input
    hub_seen = False
    for path in paths:
        # The Hub's module, a few milliseconds of every command's start, is imported
        # only for an input that may name a Hub dataset.
        ref = None if names_local(path) else _hub().parse_hub_ref(path)
        if ref is not None:
            hub_seen = used = True
            source = _hub().resolve_hub(ref, split=split, subset=subset, revision=revision)
            out += [
                InputFile(f, source, name)
                for f, name in zip(source.files, source.repo_files, strict=True)
            ]
        elif (split or subset) and _is_repo_folder(path):
            used = True
            _, _, files = _hub().resolve_folder(path, split=split, subset=subset)
            out += [
                InputFile(f, None, os.path.relpath(f, path).replace(os.sep, "/")) for f in files
            ]
        elif is_glob(path) and not os.path.exists(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise UsageError(f"no file matches {path}")
            out += [InputFile(m) for m in matches]
        else:
            out.append(InputFile(path))
    if revision is not None and not hub_seen:
        raise UsageError(
            "--revision applies to a Hub dataset (ORG/NAME, hf://datasets/ORG/NAME), "
            "and no input is one"
        )
    if (split or subset) and not used:
        flag = "--split" if split else "--subset"
        raise UsageError(
            f"{flag} applies to a Hub dataset (ORG/NAME, hf://datasets/ORG/NAME) or a folder "
            "laid out like one, and no input is one"
        )
    return out


def is_glob(path: str) -> bool:
    """Whether ``path`` holds a glob's wildcards (``*``, ``?``, ``[``).

    >>> is_glob("shards/*.jsonl"), is_glob("data.jsonl")
    (True, False)
    """
    return any(c in path for c in "*?[")


def describe(files: Iterable[InputFile]) -> list[str]:
    """One sentence per Hub dataset among ``files``: what it resolved to and where the
    files are, so that the cache paths in ``file:line`` messages can be read back to it.
    """
    files = list(files)
    lines = []
    seen: set[tuple[str, str, str | None, str | None]] = set()
    for f in files:
        hub = f.hub
        if hub is None or (key := (hub.repo_id, hub.revision, hub.subset, hub.split)) in seen:
            continue
        seen.add(key)
        n = sum(1 for g in files if g.hub is hub)
        what = ", ".join(
            part
            for part in (
                f"subset {hub.subset}" if hub.subset else "",
                f"split {hub.split}" if hub.split else "",
            )
            if part
        )
        snapshot = os.path.dirname(f.path[: len(f.path) - len(f.repo_file or "")] or f.path)
        lines.append(
            f"{hub.repo_id}@{hub.revision[:SHA_SHOWN]}{f' ({what})' if what else ''}: "
            f"{n} file{'s' if n != 1 else ''} in the Hugging Face cache, {snapshot}"
        )
        lines += [f"{hub.repo_id}: {note}" for note in hub.notes]
    return lines


def _is_repo_folder(path: str) -> bool:
    """A folder that is not a dataset saved with ``save_to_disk`` (nor a DatasetDict)."""
    return (
        os.path.isdir(path)
        and not os.path.isfile(os.path.join(path, "state.json"))
        and not os.path.isfile(os.path.join(path, "dataset_dict.json"))
    )


def names_local(text: str) -> bool:
    """Whether input ``text`` can only be local (never a Hub id): it exists (a local path
    that exists always wins), it is ``-`` (stdin), or it starts with ``.``, ``/``, ``~``
    or ``\\``. An ``hf://`` URL never is.

    >>> names_local("-"), names_local("./org/name"), names_local("org/name")
    (True, True, False)
    """
    if text.startswith("hf://"):
        return False
    return os.path.exists(text) or text == "-" or text.startswith((".", "/", "~", "\\"))


def _hub() -> Any:
    """``dataprep.reading.hub``, imported when an input may be on the Hub."""
    from dataprep.reading import hub

    return hub
