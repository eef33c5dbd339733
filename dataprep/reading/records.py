"""What reading yields: ``Record`` (one row, or the problem that stands in its place),
``InputInfo`` (what a file was found to be) and ``Records`` (the rows, with that info);
and the Records that stand for a problem, which every reader makes.

Every module of the package builds these, so they sit apart from all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dataprep.validate.problems import Problem


@dataclass(slots=True)
class Record:
    source: str
    line: int
    value: Any
    raw: bytes | None = None
    problem: Problem | None = None


@dataclass(slots=True)
class InputInfo:
    """What a file was found to be.

    ``kind``: ``jsonl``, ``json`` (an array), ``json-values`` (top-level values one after
    another), ``csv``, ``parquet`` or ``arrow``. ``compression``: None, ``gzip`` or
    ``zstd``. ``encoding``: ``utf-8`` or ``utf-16-le``/``utf-16-be``. ``notes``: decisions
    worth telling the user, as sentences.
    """

    path: str
    kind: str
    compression: str | None = None
    encoding: str = "utf-8"
    bom: bool = False
    delimiter: str = ","
    notes: list[str] = field(default_factory=list)
    # For a saved dataset folder: its .arrow files in order.
    files: list[str] = field(default_factory=list)


class Records(Iterator[Record]):
    """The iterator ``read_records`` returns: the rows, and ``info`` on what was read.

    Nothing is opened until the first row is asked for, so an unused ``Records`` holds
    no file.
    """

    def __init__(self, info: InputInfo, rows: Iterator[Record]):
        self.info = info
        self._rows = rows

    def __iter__(self) -> Iterator[Record]:
        # The generator itself: a for loop then pays nothing per row for this wrapper.
        return self._rows

    def __next__(self) -> Record:
        return next(self._rows)

    def close(self) -> None:
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def problem(source: str, line: int, code: str, message: str, raw: bytes | None = None) -> Record:
    return Record(source, line, None, raw, Problem(source, line, "", message, code))


def empty(source: str) -> Record:
    return problem(source, 0, "empty-file", "the file holds no rows")


_JSON_TYPE = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


def non_object(source: str, line: int, value: Any, raw: bytes | None = None) -> Record:
    what = "null" if value is None else _JSON_TYPE.get(type(value), type(value).__name__)
    return problem(source, line, "non-object-row", f"the row is {what}, not a JSON object", raw)


def shown_path(path: str) -> str:
    """``path`` as it can be printed and written into JSON: a name whose bytes are not
    UTF-8 (kept by Python as lone surrogates, which neither a UTF-8 terminal nor orjson
    takes) shows those bytes as ``\\xNN``.

    >>> shown_path("caf\\udce9.jsonl")
    'caf\\\\xe9.jsonl'
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    return path
