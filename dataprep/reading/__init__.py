"""Reading dataset files into rows, streaming, each row with its place in the file.

CONTRACT (other modules rely on exactly this):

    @dataclass(slots=True)
    class Record:
        source: str          # the path as the user gave it ("-" for stdin)
        line: int            # 1-based line (jsonl, csv) or 1-based row (json array,
                             # parquet, arrow folder); see "Line numbers" below
        value: Any           # the parsed row (a dict for a good row); None with a problem
        raw: bytes | None    # the row's bytes as read (jsonl, good or bad), else None
        problem: Problem | None   # set when the row could not be read; value is then None

    def read_records(path: str) -> Iterator[Record]
        Streams any supported input; memory does not grow with the file.
        Raises InputError for a file that cannot be read at all (missing -> UsageError).
        (It returns a ``Records``: an iterator with ``.info``, see below.)

Also here: ``sniff_input(path) -> InputInfo`` (what a file is, without reading rows);
``read_jsonl_chunk(chunk)`` (the rows of one byte range of a plain JSON Lines file, as
cut by ``dataprep._fast.parallel.split_jsonl`` for reading in parallel).

>>> import tempfile, os
>>> from pathlib import Path
>>> path = os.path.join(tempfile.mkdtemp(), "rows.jsonl")
>>> _ = Path(path).write_bytes(b'{"text": "a"}\\n\\n[1]\\n{"text": "b"}\\n')
>>> [(r.line, r.value, r.problem and r.problem.code) for r in read_records(path)]
[(1, {'text': 'a'}, None), (3, None, 'non-object-row'), (4, {'text': 'b'}, None)]

Inputs: ``.jsonl``/``.ndjson``; ``.txt`` (plain text, a document a line: each non-blank
line is the row ``{"text": line}``, as LLaMA-Factory and ``datasets`` read it); ``.json``
(a top-level array; a ``.json`` file that is
really JSON Lines is read as such, and one holding other top-level values one after
another reads each as a row); ``.csv``/``.tsv``; ``.parquet``; ``.arrow``; any of the text
kinds compressed with gzip or zstd (found from the magic bytes, whatever the name says);
a folder written by ``datasets.Dataset.save_to_disk``; ``-`` for stdin (JSON Lines or a
JSON array, possibly compressed) and named pipes, which are read once. An unknown
extension is sniffed from the content.
``read_records(path).info`` says what was decided (an :class:`InputInfo`, whose ``notes``
are sentences for the user, e.g. "read as UTF-16 (little-endian)"); ``sniff_input(path)``
gives the same without reading rows.

Line numbers: JSON Lines and CSV give the physical line where the row starts (a CSV cell
may span lines). A JSON array gives the text line where the element starts, so that
``file:line`` opens the editor on the row. Parquet and Arrow give the 1-based row.

Blank lines (empty or only whitespace) are not rows: they are skipped silently, and the
lines after them keep their true numbers. A UTF-8 byte-order mark is accepted. UTF-16
(LE/BE, with or without a BOM) is decoded as it streams; ``raw`` then holds the row
re-encoded as UTF-8. CSV cells that start with ``[`` or ``{`` and hold valid JSON are parsed
(so a ``messages`` column works); other cells stay strings; empty cells become absent
keys. Parquet and Arrow cannot tell an absent key from a null, and a writer that unifies
schemas gives every row every key, so keys whose value is null are dropped from the dicts
of those rows (nulls inside lists are kept).

Problem codes (``Record.problem.code``); reading continues after each, except where said:

    invalid-json     the row is not valid JSON (orjson's reason and the column)
    invalid-utf8     the row's bytes are not UTF-8 (the byte offset in the line)
    nul-byte         the row holds a NUL byte (often a file padded by a crashed writer)
    truncated-line   the last line has no newline and is not valid JSON (cut short); in
                     CSV, a quoted cell that is never closed
    non-object-row   the row is valid JSON but not an object (says what it is)
    invalid-csv      a CSV row that breaks quoting rules or has more cells than the header
    truncated-file   the file ends inside a JSON array or a compressed stream ends early;
                     reading stops
    corrupt-file     the rest of the file cannot be decoded (bad compressed data, a
                     damaged Parquet page); reading stops
    empty-file       the file holds no rows at all (line 0: the whole file)
    row-too-large    the row (a line, an array element, a CSV row) is over the limit
                     (``limits.max_row_bytes``, ``--max-row-bytes``): skipped unread
    duplicate-key    an object names a key twice (orjson would keep the last silently)
    too-deep         nested deeper than ``limits.MAX_DEPTH``
    unsupported-value, non-finite-number
                     a value that JSON cannot hold (``values``: the conversion rule for
                     Parquet, Arrow and CSV values)

A file that cannot be read at all raises InputError (``.code``: ``not-a-dataset``,
``unknown-kind``, ``unsupported-encoding``, ``unsupported-compression``, ``unreadable``,
``duplicate-column`` for a CSV header naming a column twice); a missing file raises
UsageError.

The package: ``records`` holds the types above and the Records that stand for a problem;
``sniffing`` finds out what a file is; ``streams`` holds the byte streams the readers read
(decompression, UTF-16, a byte range); ``rows`` (JSON Lines, CSV, Parquet, Arrow) and
``json_array`` (a JSON array, JSON values) turn them into Records; ``values`` parses rows
(duplicate keys caught) and converts the values JSON cannot hold; ``limits`` holds the
row size limit. This module holds the entry points and which reader each kind goes to.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from dataprep.errors import InputError, UsageError
from dataprep.reading.json_array import json_rows
from dataprep.reading.records import InputInfo, Record, Records
from dataprep.reading.rows import (
    arrow_rows,
    csv_rows,
    jsonl_rows,
    jsonl_rows_lazy,
    parquet_rows,
    text_rows,
)
from dataprep.reading.sniffing import (
    ARROW_FILE,
    ARROW_STREAM,
    compression_of,
    decide,
    encoding_of,
    head_as_utf8,
    json_kind,
    sniff_folder,
)
from dataprep.reading.streams import (
    HEAD,
    Prefixed,
    Range,
    decompressor,
    open_decoded,
    read_head,
    read_head_plain,
    text_layer,
)


def read_records(path: str) -> Records:
    """Stream the rows of ``path`` (see the module docstring for kinds and codes).

    Raises UsageError for a missing file and InputError for a file that is not a
    dataset at all; every other defect is a Record with ``.problem`` at its line.
    """
    if path == "-":
        return _read_stream(sys.stdin.buffer, "-", close=False)
    if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
        # A pipe such as bash's <(zcat x.gz): it can be read once only, so no sniff-then-reopen.
        try:
            stream = open(path, "rb")  # noqa: SIM115 (closed by the row generator)
        except OSError as e:
            raise InputError(path, f"cannot read: {e.strerror or e}") from e
        return _read_stream(stream, path, close=True)
    info = sniff_input(path)
    return Records(info, _rows(info, lambda: open_decoded(info)))


def sniff_input(path: str) -> InputInfo:
    """Find out what ``path`` is (kind, compression, encoding) without reading rows.

    >>> import tempfile, os
    >>> from pathlib import Path
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.json")
    >>> _ = Path(path).write_bytes('{"text": "a"}\\n'.encode("utf-16"))
    >>> info = sniff_input(path)
    >>> info.kind, info.encoding, info.notes
    ('jsonl', 'utf-16-le', ['read as UTF-16 (little-endian)', 'a .json file holding JSON Lines: read as JSON Lines'])
    """
    if path == "-":
        raise UsageError("stdin cannot be sniffed without reading it: use read_records('-')")
    if not os.path.exists(path):
        raise UsageError(f"no such file: {path}")
    if os.path.isdir(path):
        return sniff_folder(path)
    try:
        with open(path, "rb") as f:
            raw_head = f.read(HEAD)
            compression = compression_of(path, raw_head)
            head = raw_head
            if compression:
                f.seek(0)
                decompressed = decompressor(compression, f, close_raw=False)
                try:
                    head = read_head(decompressed, path)
                finally:
                    decompressed.close()
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from e
    return decide(path, head, compression)


@dataclass(slots=True, frozen=True)
class JsonlChunk:
    """A byte range ``[start, end)`` of a JSON Lines file whose first line is ``first_line``."""

    path: str
    start: int
    end: int
    first_line: int


def read_jsonl_chunk(chunk: JsonlChunk) -> Iterator[Record]:
    """The Records of one chunk (``dataprep._fast.parallel.split_jsonl``), lines numbered from
    ``chunk.first_line`` (no ``empty-file`` record)."""
    f = open(chunk.path, "rb")  # noqa: SIM115 (closed by jsonl_rows)
    f.seek(chunk.start)
    at_end = chunk.end >= os.path.getsize(chunk.path)
    return jsonl_rows(Range(f, chunk.end - chunk.start), chunk.path, chunk.first_line - 1, at_end)


def _read_stream(stream: BinaryIO, source: str, close: bool) -> Records:
    """Rows from a stream that can be read only once (stdin, a pipe)."""
    try:
        raw_head = read_head_plain(stream)
        compression = compression_of(source, raw_head)
        src: Any = Prefixed(raw_head, stream, close_stream=close)
        head = raw_head
        if compression:
            src = decompressor(compression, src)
            head = read_head(src, source)
            src = Prefixed(head, src)
        if head.startswith((b"PAR1", ARROW_FILE, ARROW_STREAM)):
            raise UsageError(
                f"{source}: Parquet and Arrow cannot be read from a pipe: pass the file's path"
            )
        if source == "-":
            info = InputInfo("-", "jsonl", compression)
            info.encoding, bom = encoding_of("-", head)
            info.bom = bom > 0
            text = head_as_utf8(head[bom:], info.encoding)
            info.kind = json_kind(text, prefer_lines=False)
        else:
            info = decide(source, head, compression)
        decoded = text_layer(src, info)
    except BaseException:
        if close:
            stream.close()
        raise
    return Records(info, _rows(info, lambda: decoded))


def _rows(info: InputInfo, open_stream: Callable[[], Any]) -> Iterator[Record]:
    if info.kind == "parquet":
        return parquet_rows(info.path)
    if info.kind == "arrow":
        return arrow_rows(info.path, info.files)
    if info.kind == "csv":
        return csv_rows(open_stream, info.path, info.delimiter)
    if info.kind == "text":
        return text_rows(open_stream, info.path)
    if info.kind in ("json", "json-values"):
        return json_rows(open_stream, info.path, info.kind == "json")
    return jsonl_rows_lazy(open_stream, info.path)
