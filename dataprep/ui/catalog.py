"""What the ui may show: the paths given on the command line, each found to be one kind
of input, and the one way a request names a file (an input's number, and a path inside
it or a recipe's source number). Nothing else on the disk is ever reached.

A request never carries a path of its own to open: ``rel`` is resolved inside a given
folder and refused when it is absolute, climbs with ``..``, or resolves (through a
symlink) outside that folder.

>>> import tempfile, os
>>> folder = tempfile.mkdtemp()
>>> from pathlib import Path
>>> _ = Path(folder, "a.jsonl").write_text('{"text": "x"}\\n')
>>> catalog = Catalog([folder])
>>> catalog.entries[0].kind, os.path.basename(catalog.file(0, "a.jsonl").path)
('folder', 'a.jsonl')
>>> catalog.file(0, "../etc/passwd")
Traceback (most recent call last):
dataprep.ui.catalog.Forbidden: ../etc/passwd: not a file inside the folder given (input 0)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from dataprep.errors import DataprepError

# Folders are listed to this many files: a listing is a page, not a crawl.
LISTED = 1000
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


class PageError(DataprepError):
    """A request the ui refuses, with the HTTP status it answers."""

    status = 400


class NotFound(PageError):
    status = 404


class Forbidden(PageError):
    status = 403


class BadInput(PageError):
    """An input that cannot be shown: a damaged folder, a file that is not a dataset."""

    status = 422


@dataclass
class Entry:
    """One path given on the command line: ``kind`` is ``file`` (a data file, or a folder
    saved by ``datasets``), ``prepared`` (has a dataprep.json), ``recipe`` (a recipe or a
    peer's config), ``tokenizer`` (a tokenizer folder) or ``folder`` (files to browse)."""

    number: int
    path: str  # as given
    real: str  # resolved: what containment is checked against
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "path": self.path, "kind": self.kind}


@dataclass
class Target:
    """A data file a page shows: where it is, how it is named in links, and how it is read
    (a recipe's source brings its format and ``--field``/``--role`` mapping)."""

    path: str
    number: int
    rel: str | None = None
    source: int | None = None
    format: str | None = None
    fields: tuple[tuple[str, str], ...] = ()
    roles: tuple[tuple[str, str], ...] = ()
    name: str = ""

    @property
    def query(self) -> dict[str, Any]:
        """The query parameters that name this file again."""
        q: dict[str, Any] = {}
        if self.rel is not None:
            q["rel"] = self.rel
        if self.source is not None:
            q["source"] = self.source
        return q

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.path, self.format, self.fields, self.roles)


def classify(path: str) -> str:
    """The kind of a given path (see ``Entry``).

    >>> classify("samples/tiny-tokenizer"), classify("samples/alpaca.jsonl")
    ('tokenizer', 'file')
    """
    from dataprep.contract import MANIFEST
    from dataprep.recipe.reading import is_config

    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, MANIFEST)):
            return "prepared"
        if os.path.isfile(os.path.join(path, "state.json")):
            return "file"  # a dataset saved by datasets: read as one input
        if any(os.path.isfile(os.path.join(path, name)) for name in TOKENIZER_FILES):
            return "tokenizer"
        return "folder"
    return "recipe" if is_config(path, None) else "file"


@dataclass
class Catalog:
    """The given paths, numbered in the order given."""

    paths: list[str]
    entries: list[Entry] = field(init=False)

    def __post_init__(self) -> None:
        self.entries = [
            Entry(i, p, os.path.realpath(p), classify(p)) for i, p in enumerate(self.paths)
        ]

    def entry(self, number: int, *kinds: str) -> Entry:
        """Input ``number``; NotFound when there is none, or none of ``kinds``."""
        if not 0 <= number < len(self.entries):
            raise NotFound(f"there is no input {number}: the ui was given {len(self.entries)}")
        entry = self.entries[number]
        if kinds and entry.kind not in kinds:
            raise NotFound(what_it_is(entry, kinds))
        return entry

    def member(self, number: int, rel: str) -> str:
        """The real path of ``rel`` inside the given folder ``number``, or Forbidden."""
        entry = self.entry(number)
        refused = Forbidden(f"{rel}: not a file inside the folder given (input {number})")
        if entry.kind not in ("folder", "prepared") or not rel or "\0" in rel:
            raise refused
        parts = rel.replace("\\", "/").split("/")
        if os.path.isabs(rel) or ".." in parts or rel.startswith("~"):
            raise refused
        full = os.path.realpath(os.path.join(entry.real, rel))
        if os.path.commonpath([full, entry.real]) != entry.real or full == entry.real:
            raise refused
        if not os.path.isfile(full):
            raise NotFound(f"{rel}: no such file in {entry.path}")
        return full

    def file(self, number: int, rel: str | None = None, source: int | None = None) -> Target:
        """The data file a raw-file page shows: input ``number`` itself, a file ``rel``
        inside it, or its recipe's source ``source``."""
        if rel:
            return Target(self.member(number, rel), number, rel=rel, name=rel)
        if source is not None:
            return self._source(number, source)
        entry = self.entry(number, "file")
        return Target(entry.path, number, name=entry.path)

    def _source(self, number: int, index: int) -> Target:
        from dataprep.recipe.reading import read_config

        entry = self.entry(number, "recipe")
        recipe, _, _ = read_config(entry.path, None)
        if not 0 <= index < len(recipe.sources):
            raise NotFound(f"{entry.path} has no source {index}")
        s = recipe.sources[index]
        path = s.path
        if s.is_hub:
            from dataprep.recipe.check import _files

            files = _files(s)
            if len(files) != 1:
                raise NotFound(f"{s.path}: the Hub source has {len(files)} files; one is shown")
            path = files[0]
        return Target(path, number, source=index, format=s.format, fields=s.fields,
                      roles=s.roles, name=s.label)  # fmt: skip

    def listing(self, number: int) -> list[str]:
        """The files inside given folder ``number`` (relative paths, sorted, at most
        ``LISTED``); symlinks that lead outside are left out."""
        entry = self.entry(number, "folder", "prepared")
        found: list[str] = []
        for top, dirs, files in os.walk(entry.real):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                rel = os.path.relpath(os.path.join(top, name), entry.real)
                try:
                    self.member(number, rel)
                except PageError:
                    continue
                found.append(rel)
                if len(found) >= LISTED:
                    return found
        return found


def what_it_is(entry: Entry, wanted: tuple[str, ...]) -> str:
    """Why input ``entry`` has no page of the kind asked for, in words."""
    said = {
        "prepared": "is not a prepared folder (no dataprep.json): run dataprep prepare first",
        "file": "is not a data file",
        "recipe": "is not a recipe",
        "tokenizer": "is not a tokenizer folder",
    }
    return f"{entry.path} {said.get(wanted[0], 'cannot be shown so')} (it is a {entry.kind})"
