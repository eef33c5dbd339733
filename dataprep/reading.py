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
cut by ``dataprep.parallel.split_jsonl`` for reading in parallel).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "rows.jsonl")
>>> _ = open(path, "wb").write(b'{"text": "a"}\\n\\n[1]\\n{"text": "b"}\\n')
>>> [(r.line, r.value, r.problem and r.problem.code) for r in read_records(path)]
[(1, {'text': 'a'}, None), (3, None, 'non-object-row'), (4, {'text': 'b'}, None)]

Inputs: ``.jsonl``/``.ndjson``; ``.json`` (a top-level array; a ``.json`` file that is
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

A file that cannot be read at all raises InputError (``.code``: ``not-a-dataset``,
``unknown-kind``, ``unsupported-encoding``, ``unsupported-compression``, ``unreadable``);
a missing file raises UsageError.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

import orjson

from dataprep.errors import InputError, UsageError
from dataprep.problems import Problem

# Large reads and one bytes.split per block are what make JSON Lines fast: far fewer
# Python-level steps than iterating a file line by line.
BLOCK = 1 << 18
HEAD = 1 << 16

SUPPORTED = (
    ".jsonl/.ndjson, .json (array), .csv/.tsv, .parquet, .arrow, any of the text kinds "
    "compressed as .gz or .zst, a folder written by datasets' save_to_disk, or - for stdin"
)


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


class _Readable(Protocol):
    def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


class _StreamError(Exception):
    """Raised by a decoding stream mid-file; becomes a final problem Record."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------- public


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
    return Records(info, _rows(info, lambda: _open_decoded(info)))


def sniff_input(path: str) -> InputInfo:
    """Find out what ``path`` is (kind, compression, encoding) without reading rows.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.json")
    >>> _ = open(path, "wb").write('{"text": "a"}\\n'.encode("utf-16"))
    >>> info = sniff_input(path)
    >>> info.kind, info.encoding, info.notes
    ('jsonl', 'utf-16-le', ['read as UTF-16 (little-endian)', 'a .json file holding JSON Lines: read as JSON Lines'])
    """
    if path == "-":
        raise UsageError("stdin cannot be sniffed without reading it: use read_records('-')")
    if not os.path.exists(path):
        raise UsageError(f"no such file: {path}")
    if os.path.isdir(path):
        return _sniff_folder(path)
    try:
        with open(path, "rb") as f:
            raw_head = f.read(HEAD)
            compression = _compression_of(path, raw_head)
            head = raw_head
            if compression:
                f.seek(0)
                decompressed = _decompressor(compression, f, close_raw=False)
                try:
                    head = _read_head(decompressed, path)
                finally:
                    decompressed.close()
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from e
    return _decide(path, head, compression)


@dataclass(slots=True, frozen=True)
class JsonlChunk:
    """A byte range ``[start, end)`` of a JSON Lines file whose first line is ``first_line``."""

    path: str
    start: int
    end: int
    first_line: int


def read_jsonl_chunk(chunk: JsonlChunk) -> Iterator[Record]:
    """The Records of one chunk (``dataprep.parallel.split_jsonl``), lines numbered from
    ``chunk.first_line`` (no ``empty-file`` record)."""
    f = open(chunk.path, "rb")  # noqa: SIM115 (closed by _jsonl_rows)
    f.seek(chunk.start)
    at_end = chunk.end >= os.path.getsize(chunk.path)
    return _jsonl_rows(_Range(f, chunk.end - chunk.start), chunk.path, chunk.first_line - 1, at_end)


# ---------------------------------------------------------------------------- sniffing

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_OTHER_COMPRESSION = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
    b"7z\xbc\xaf\x27\x1c": "7z",
}
_COMPRESSED_SUFFIXES = (".gz", ".gzip", ".zst", ".zstd")
_EXT_KIND = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
}
_ARROW_FILE = b"ARROW1"
_ARROW_STREAM = b"\xff\xff\xff\xff"


def _compression_of(path: str, head: bytes) -> str | None:
    if head.startswith(_GZIP):
        return "gzip"
    if head.startswith(_ZSTD):
        return "zstd"
    for magic, name in _OTHER_COMPRESSION.items():
        if head.startswith(magic):
            raise InputError(
                path,
                f"compressed as {name}, which is not supported: decompress it, or use gzip or zstd",
                "unsupported-compression",
            )
    return None


def _split_name(path: str) -> tuple[str, str | None]:
    """The extension that says the kind (after any compression suffix), and that suffix."""
    name = os.path.basename(path).lower()
    for suffix in _COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return os.path.splitext(name[: -len(suffix)])[1], suffix
    return os.path.splitext(name)[1], None


def _encoding_of(path: str, head: bytes) -> tuple[str, int]:
    """The encoding of the text in ``head`` and the length of its BOM."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise InputError(
            path, "is UTF-32, which is not supported: convert it to UTF-8", "unsupported-encoding"
        )
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    # Without a BOM, UTF-16 of mostly-ASCII text (JSON, CSV headers) has a NUL in every
    # other byte: at odd offsets for little-endian, at even ones for big-endian.
    sample = head[:64]
    pairs = len(sample) // 2
    if pairs >= 2:
        odd = sum(1 for i in range(pairs) if sample[2 * i + 1] == 0 and sample[2 * i] != 0)
        even = sum(1 for i in range(pairs) if sample[2 * i] == 0 and sample[2 * i + 1] != 0)
        if odd * 4 >= pairs * 3:
            return "utf-16-le", 0
        if even * 4 >= pairs * 3:
            return "utf-16-be", 0
    return "utf-8", 0


def _decide(path: str, head: bytes, compression: str | None) -> InputInfo:
    ext, suffix = _split_name(path)
    info = InputInfo(path, "jsonl", compression)
    if compression and suffix is None:
        info.notes.append(f"compressed with {compression} (found from its content)")
    elif suffix and not compression:
        info.notes.append(f"named {suffix} but not compressed: read as it is")
    by_name = _EXT_KIND.get(ext)

    if head.startswith(b"PAR1"):
        if compression:
            raise InputError(
                path,
                "a compressed Parquet file cannot be streamed: decompress it (Parquet compresses inside)",
                "unsupported-compression",
            )
        info.kind = "parquet"
        _check_parquet(path)
        if by_name != "parquet":
            info.notes.append("a Parquet file (found from its content)")
        return info
    if by_name == "arrow" or head.startswith(_ARROW_FILE):
        if compression:
            raise InputError(
                path,
                "a compressed Arrow file cannot be read: decompress it",
                "unsupported-compression",
            )
        info.kind = "arrow"
        info.files = [path]
        return info

    info.encoding, bom = _encoding_of(path, head)
    info.bom = bom > 0
    text = _head_as_utf8(head[bom:], info.encoding)
    if info.encoding != "utf-8":
        endian = "little" if info.encoding.endswith("le") else "big"
        info.notes.append(f"read as UTF-16 ({endian}-endian)")
    first = text.lstrip()[:1]

    if by_name == "csv":
        info.kind = "csv"
        info.delimiter = "\t" if ext == ".tsv" else _csv_delimiter(text)
        return info
    if by_name in ("jsonl", "json") or first in (b"[", b"{"):
        info.kind = _json_kind(text, prefer_lines=by_name == "jsonl")
    elif not first:
        info.kind = "jsonl"  # empty: no rows
    elif by_name is None and _looks_like_text(text) and _csv_delimiter(text, default=""):
        info.kind = "csv"
        info.delimiter = _csv_delimiter(text)
    elif by_name == "parquet":
        raise InputError(path, "is not a Parquet file (no PAR1 magic bytes)", "unreadable")
    else:
        raise InputError(
            path, f"cannot tell what kind of file this is; supported: {SUPPORTED}", "unknown-kind"
        )
    if by_name is None:
        info.notes.append(
            f"unknown extension {ext or '(none)'}: read as {_KIND_WORDS[info.kind]} from its content"
        )
    elif info.kind == "json-values":
        info.notes.append(
            f"a {ext} file holding JSON values one after another, not an array: each is read as a row"
        )
    elif by_name != info.kind:
        words = _KIND_WORDS[info.kind]
        info.notes.append(f"a {ext} file holding {words}: read as {words}")
    return info


_KIND_WORDS = {
    "jsonl": "JSON Lines",
    "json": "a JSON array",
    "json-values": "JSON values one after another",
    "csv": "CSV",
    "parquet": "Parquet",
    "arrow": "Arrow",
}


def _json_kind(text: bytes, prefer_lines: bool) -> str:
    """JSON Lines, a JSON array, or JSON values one after another, from the first bytes.

    A first line that is complete JSON means JSON Lines (except that an array wins in a
    file not named as JSON Lines); one that is not means a pretty-printed document. In a
    file named as JSON Lines only an unmistakable document start (a line ``[`` or ``{``)
    overrides the name: a broken first row must be reported as that, at line 1.
    """
    first_line = _first_line(text)
    first = first_line[:1]
    complete = _first_line_is_json(text)
    if prefer_lines:
        if complete or not _starts_document(first_line):
            return "jsonl"
        return "json" if first == b"[" else "json-values"
    if first == b"[":
        return "json"
    if first == b"{":
        return "jsonl" if complete else "json-values"
    return "json-values"


def _first_line(text: bytes) -> bytes:
    for line in text.split(b"\n", 64):
        if line.strip():
            return line.strip()
    return b""


def _starts_document(line: bytes) -> bool:
    """Does this first line open a pretty-printed array or object (not a row of its own)?"""
    return line in (b"[", b"{", b"[{") or (line[:1] == b"[" and line.endswith(b","))


def _head_as_utf8(head: bytes, encoding: str) -> bytes:
    if encoding == "utf-8":
        return head
    # An odd byte count cuts a code unit: drop it, this is only a sniff.
    text = head[: len(head) // 2 * 2].decode(encoding, "replace")
    return text.encode("utf-8", "replace")


def _first_line_is_json(text: bytes) -> bool:
    """Is the first non-blank line of ``text`` a complete JSON value?

    A head with no newline at all is one long line: JSON Lines rows can be long, a
    pretty-printed document breaks its first line early.
    """
    for line in text.split(b"\n")[:-1]:
        if line.strip():
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                return False
            return True
    return b"\n" not in text.rstrip(b"\r\n \t")


def _looks_like_text(text: bytes) -> bool:
    sample = text[:4096]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start > len(sample) - 4  # a character cut by the end of the sample
    return True


def _csv_delimiter(text: bytes, default: str = ",") -> str:
    # From the header line only: cells below may hold JSON full of commas and colons.
    header = text.split(b"\n", 1)[0]
    counts = {d: header.count(d.encode()) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else default


def _check_parquet(path: str) -> None:
    import pyarrow.parquet as pq

    try:
        pq.ParquetFile(path).close()
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise InputError(path, f"is not a readable Parquet file: {e}", "unreadable") from e


def _sniff_folder(path: str) -> InputInfo:
    state = os.path.join(path, "state.json")
    if os.path.isfile(state):
        try:
            with open(state, "rb") as f:
                files = [entry["filename"] for entry in orjson.loads(f.read())["_data_files"]]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as e:
            raise InputError(
                path, f"has a state.json that cannot be read: {e}", "unreadable"
            ) from e
        full = [os.path.join(path, name) for name in files]
        missing = [name for name in files if not os.path.isfile(os.path.join(path, name))]
        if missing:
            raise InputError(path, f"saved dataset is missing {', '.join(missing)}", "unreadable")
        return InputInfo(path, "arrow", files=full)
    splits_file = os.path.join(path, "dataset_dict.json")
    if os.path.isfile(splits_file):
        try:
            with open(splits_file, "rb") as f:
                splits = [str(s) for s in orjson.loads(f.read())["splits"]]
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
            splits = []
        example = os.path.join(path, splits[0] if splits else "train")
        raise InputError(
            path,
            f"is a DatasetDict with splits {', '.join(splits) or '(unknown)'}: pass one split's folder, e.g. {example}",
            "not-a-dataset",
        )
    raise InputError(
        path,
        "is a folder, not a dataset saved with datasets' save_to_disk (it has no state.json)",
        "not-a-dataset",
    )


# ---------------------------------------------------------------------------- streams


class _Prefixed:
    """A stream whose first bytes were already read for sniffing."""

    def __init__(self, head: bytes, stream: Any, close_stream: bool = True):
        self.head = head
        self.stream = stream
        self.close_stream = close_stream

    def read(self, n: int) -> bytes:
        if self.head:
            out, self.head = self.head[:n], self.head[n:]
            return out
        return self.stream.read(n)

    def close(self) -> None:
        if self.close_stream:
            self.stream.close()


class _Range:
    """At most ``size`` bytes of a file, then EOF."""

    def __init__(self, f: BinaryIO, size: int):
        self.f = f
        self.left = size

    def read(self, n: int) -> bytes:
        if self.left <= 0:
            return b""
        data = self.f.read(min(n, self.left))
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.f.close()


class _Gzip:
    """gzip decoding that hands over what it decoded before reporting damage.

    ``GzipFile.read`` loses the data of a call that ends in an error; ``read1`` in a loop
    keeps it, and the error is raised on the next call.
    """

    def __init__(self, raw: Any, close_raw: bool = True):
        self.raw = raw
        self.close_raw = close_raw
        self.z = gzip.GzipFile(fileobj=raw, mode="rb")
        self.error: _StreamError | None = None

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < n and self.error is None:
            try:
                data = self.z.read1(n - size)
            except EOFError:
                self.error = _StreamError(
                    "truncated-file", "the gzip stream ends early (file cut short?)"
                )
                break
            except (OSError, zlib.error) as e:
                self.error = _StreamError("corrupt-file", f"the gzip data is damaged: {e}")
                break
            if not data:
                break
            parts.append(data)
            size += len(data)
        if not parts and self.error is not None:
            error, self.error = self.error, None
            raise error
        return b"".join(parts)

    def close(self) -> None:
        self.z.close()
        if self.close_raw:
            self.raw.close()


class _Zstd:
    """zstd decoding that notices a stream cut short.

    zstandard's stream_reader returns a clean EOF for a truncated frame; a
    decompressobj tells (``eof`` stays False). Frames one after another are all read.
    """

    def __init__(self, raw: Any, close_raw: bool = True):
        import zstandard

        self.zstandard = zstandard
        self.raw = raw
        self.close_raw = close_raw
        self.d = zstandard.ZstdDecompressor().decompressobj()
        self.fed = False
        self.done = False

    def read(self, n: int) -> bytes:
        # Compressed input is read in smaller pieces: one piece can expand a lot.
        while not self.done:
            data = self.raw.read(1 << 17)
            if not data:
                self.done = True
                if self.fed and not self.d.eof:
                    raise _StreamError(
                        "truncated-file", "the zstd stream ends early (file cut short?)"
                    )
                return b""
            out = []
            while data:
                self.fed = True
                try:
                    out.append(self.d.decompress(data))
                except self.zstandard.ZstdError as e:
                    raise _StreamError("corrupt-file", f"the zstd data is damaged: {e}") from e
                data = b""
                if self.d.eof:
                    data = self.d.unused_data
                    self.d = self.zstandard.ZstdDecompressor().decompressobj()
                    self.fed = bool(data)
            chunk = b"".join(out)
            if chunk:
                return chunk
        return b""

    def close(self) -> None:
        if self.close_raw:
            self.raw.close()


class _Utf16:
    """UTF-16 in, UTF-8 out, decoded as it streams."""

    def __init__(self, stream: Any, encoding: str):
        self.stream = stream
        self.decoder = codecs.getincrementaldecoder(encoding)("surrogatepass")
        self.done = False

    def read(self, n: int) -> bytes:
        while not self.done:
            data = self.stream.read(n)
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError:
                # An odd trailing byte: an invalid UTF-8 byte makes the last row a problem.
                self.done = True
                return b"\xff"
            if not data:
                self.done = True
            # Lone surrogates stay invalid UTF-8, so the row reports them.
            out = text.encode("utf-8", "surrogatepass")
            if out:
                return out
        return b""

    def close(self) -> None:
        self.stream.close()


def _decompressor(compression: str, raw: Any, close_raw: bool = True) -> _Readable:
    return _Gzip(raw, close_raw) if compression == "gzip" else _Zstd(raw, close_raw)


def _read_head(stream: _Readable, path: str) -> bytes:
    parts, size = [], 0
    while size < HEAD:
        try:
            data = stream.read(HEAD - size)
        except _StreamError:
            break  # reported as a row problem when the rows are read
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)


def _open_decoded(info: InputInfo) -> _Readable:
    """The file's bytes, decompressed, BOM skipped, as UTF-8."""
    # Unbuffered: the readers ask for large blocks, a buffer would only copy them.
    f: Any = open(info.path, "rb", buffering=0)  # noqa: SIM115 (closed by the row generator)
    if info.compression:
        f = _decompressor(info.compression, f)
    return _text_layer(f, info)


def _text_layer(stream: Any, info: InputInfo) -> Any:
    if info.bom:
        skip = 2 if info.encoding.startswith("utf-16") else 3
        while skip > 0:
            got = stream.read(skip)
            if not got:
                break
            skip -= len(got)
    if info.encoding != "utf-8":
        return _Utf16(stream, info.encoding)
    return stream


def _read_stream(stream: BinaryIO, source: str, close: bool) -> Records:
    """Rows from a stream that can be read only once (stdin, a pipe)."""
    try:
        raw_head = _read_head_plain(stream)
        compression = _compression_of(source, raw_head)
        src: Any = _Prefixed(raw_head, stream, close_stream=close)
        head = raw_head
        if compression:
            src = _decompressor(compression, src)
            head = _read_head(src, source)
            src = _Prefixed(head, src)
        if head.startswith((b"PAR1", _ARROW_FILE, _ARROW_STREAM)):
            raise UsageError(
                f"{source}: Parquet and Arrow cannot be read from a pipe: pass the file's path"
            )
        if source == "-":
            info = InputInfo("-", "jsonl", compression)
            info.encoding, bom = _encoding_of("-", head)
            info.bom = bom > 0
            text = _head_as_utf8(head[bom:], info.encoding)
            info.kind = _json_kind(text, prefer_lines=False)
        else:
            info = _decide(source, head, compression)
        decoded = _text_layer(src, info)
    except BaseException:
        if close:
            stream.close()
        raise
    return Records(info, _rows(info, lambda: decoded))


def _read_head_plain(stream: BinaryIO) -> bytes:
    parts, size = [], 0
    while size < HEAD:
        data = stream.read(HEAD - size)
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)


# ---------------------------------------------------------------------------- rows


def _rows(info: InputInfo, open_stream: Callable[[], Any]) -> Iterator[Record]:
    if info.kind == "parquet":
        return _parquet_rows(info.path)
    if info.kind == "arrow":
        return _arrow_rows(info.path, info.files)
    if info.kind == "csv":
        return _csv_rows(open_stream, info.path, info.delimiter)
    if info.kind in ("json", "json-values"):
        return _json_rows(open_stream, info.path, info.kind == "json")
    return _jsonl_rows_lazy(open_stream, info.path)


def _problem(source: str, line: int, code: str, message: str, raw: bytes | None = None) -> Record:
    return Record(source, line, None, raw, Problem(source, line, "", message, code))


def _empty(source: str) -> Record:
    return _problem(source, 0, "empty-file", "the file holds no rows")


_JSON_TYPE = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


def _non_object(source: str, line: int, value: Any, raw: bytes | None = None) -> Record:
    what = "null" if value is None else _JSON_TYPE.get(type(value), type(value).__name__)
    return _problem(source, line, "non-object-row", f"the row is {what}, not a JSON object", raw)


def _jsonl_rows_lazy(open_stream: Callable[[], Any], source: str) -> Iterator[Record]:
    yield from _jsonl_rows(open_stream(), source, 0, True, report_empty=True)


def _jsonl_rows(
    stream: Any, source: str, line: int, at_end: bool, report_empty: bool = False
) -> Iterator[Record]:
    """The hot loop. ``line`` is the number of the line before the stream's first byte.

    Only one try per row, and blank lines are counted on the error path, so a good row
    costs a parse, a type check and a Record.
    """
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    read = stream.read
    carry: list[bytes] = []
    first_line = line
    blank = 0
    try:
        while True:
            try:
                chunk = read(BLOCK)
            except _StreamError as e:
                yield _problem(
                    source, line + 1, e.code, f"{e.message}; reading stopped after line {line}"
                )
                return
            if not chunk:
                break
            if b"\n" not in chunk:
                carry.append(chunk)  # one long line: join once, not once per block
                continue
            if carry:
                carry.append(chunk)
                chunk = b"".join(carry)
                carry = []
            lines = chunk.split(b"\n")
            tail = lines.pop()
            if tail:
                carry.append(tail)
            for raw in lines:
                line += 1
                try:
                    value = loads(raw)
                except decode_error as e:
                    if raw.strip():
                        yield _bad_line(source, line, raw, e, last=False)
                    else:
                        blank += 1
                    continue
                if type(value) is dict:
                    yield Record(source, line, value, raw, None)
                else:
                    yield _non_object(source, line, value, raw)
        raw = b"".join(carry)
        if raw.strip():
            line += 1
            try:
                value = loads(raw)
            except decode_error as e:
                yield _bad_line(source, line, raw, e, last=at_end)
            else:
                if type(value) is dict:
                    yield Record(source, line, value, raw, None)
                else:
                    yield _non_object(source, line, value, raw)
        if report_empty and line - first_line == blank:
            yield _empty(source)
    finally:
        stream.close()


def _bad_line(source: str, line: int, raw: bytes, error: Any, last: bool) -> Record:
    """Why one JSON Lines line failed, most specific reason first."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        return _problem(source, line, "nul-byte", f"NUL byte at byte {nul} of the line", raw)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut by the end of the file is truncation, not bad bytes.
        if last and e.end >= len(raw):
            code = "truncated-line"
            message = (
                "the last line has no newline and ends inside a UTF-8 character (file cut short?)"
            )
        else:
            code = "invalid-utf8"
            message = f"invalid UTF-8 at byte {e.start} of the line ({e.reason})"
        return _problem(source, line, code, message, raw)
    if last:
        message = (
            "the last line has no newline and is not complete JSON (file cut short?): "
            f"{error.msg} at column {error.colno}"
        )
        return _problem(source, line, "truncated-line", message, raw)
    message = f"invalid JSON at column {error.colno}: {error.msg}"
    return _problem(source, line, "invalid-json", message, raw)


# JSON text outside strings and brackets, and whole strings, in one C-level match. The
# scanner then stops only at brackets (or at a string the buffer cuts off).
_SKIP = re.compile(rb'(?:[^"\[\]{}]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.S)
_STRING_TAIL = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_SCALAR = re.compile(rb'[^\s,\[\]{}"]+')
_WHITESPACE = re.compile(rb"[ \t\r\n]*")


class _JsonSplitter:
    """Splits JSON text into its top-level values (or an array's elements) as bytes.

    Tracks only string, escape and bracket state, so a multi-GB array streams with
    memory bounded by the largest element; orjson then parses each element.
    """

    def __init__(self, read: Callable[[int], bytes]):
        self.read = read
        self.buf = b""
        self.eof = False
        self.line = 1  # the line number at offset ``counted`` of ``buf``
        self.counted = 0
        self.fills = 0  # offsets into ``buf`` from before a fill are stale

    def fill(self, mark: int) -> int:
        """Drop ``buf[:mark]``, append more input; returns how far offsets moved."""
        buf = self.buf
        self.line += buf.count(b"\n", self.counted, mark)
        self.counted = 0
        self.fills += 1
        # Reading as much as is kept makes a huge element cost linear time, not quadratic.
        chunk = self.read(max(BLOCK, len(buf) - mark))
        if not chunk:
            self.eof = True
        self.buf = buf[mark:] + chunk
        return mark

    def line_at(self, offset: int) -> int:
        self.line += self.buf.count(b"\n", self.counted, offset)
        self.counted = offset
        return self.line

    def skip_whitespace(self, pos: int) -> int:
        while True:
            pos = _WHITESPACE.match(self.buf, pos).end()
            if pos < len(self.buf) or self.eof:
                return pos
            pos -= self.fill(pos)

    def value_end(self, start: int) -> tuple[int, int]:
        """(start, end) of the value at ``start`` after any refills; end -1 at EOF inside."""
        first = self.buf[start]
        if first in b"{[":
            depth, pos = 1, start + 1
            while True:
                buf = self.buf
                pos = _SKIP.match(buf, pos).end()
                if pos >= len(buf) or buf[pos] == 34:  # 34: '"' a string cut by the buffer end
                    if self.eof:
                        return start, -1
                    shift = self.fill(start)
                    start, pos = start - shift, pos - shift
                    continue
                pos += 1
                if buf[pos - 1] in b"{[":
                    depth += 1
                else:
                    depth -= 1
                    if depth == 0:
                        return start, pos
        if first == 34:  # '"'
            while True:
                m = _STRING_TAIL.match(self.buf, start + 1)
                if m is not None:
                    return start, m.end()
                if self.eof:
                    return start, -1
                start -= self.fill(start)
        while True:
            m = _SCALAR.match(self.buf, start)
            if m is None:
                return start, start + 1  # a stray ',' or '}': orjson will say what is wrong
            if m.end() < len(self.buf) or self.eof:
                return start, m.end()
            start -= self.fill(start)

    def values(self, in_array: bool) -> Iterator[tuple[int, bytes, str | None, Any]]:
        """(line, bytes, problem code or None, parsed value or _UNPARSED).

        For a problem the bytes are its message. An element found by the fast path below
        comes parsed already; any other comes as bytes to parse.

        The fast path: in an array printed with a newline between elements (``json.dump``
        with ``indent``, or one element per line), the text between two elements, say
        ``},\n  {``, cannot occur inside a string (JSON strings hold no raw newline) nor
        between nested objects (they are indented deeper or sit on one line). Having seen
        it once, the next element ends at its next occurrence: one ``find`` and one parse,
        no scan. orjson checks the slice, and any doubt falls back to the scanner.
        """
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        pos = self.skip_whitespace(0)
        if in_array:
            pos += 1  # the sniffer saw '['
        comma_line = 0
        between: bytes | None = None  # "}" + separator + "{", once learnt
        learn_from = -1  # where the last element ended, to learn the separator
        fills = -1
        while True:
            pos = self.skip_whitespace(pos)
            buf = self.buf
            if pos >= len(buf):
                if in_array:
                    message = b"the file ends before the array is closed with ']' (cut short?)"
                    yield self.line_at(pos), message, "truncated-file", _UNPARSED
                return
            c = buf[pos]
            if in_array and c == 93:  # ']'
                if comma_line:
                    message = b"a comma after the last row is not valid JSON"
                    yield comma_line, message, "invalid-json", _UNPARSED
                pos = self.skip_whitespace(pos + 1)
                if pos < len(self.buf):
                    message = b"unexpected data after the closing ']'"
                    yield self.line_at(pos), message, "invalid-json", _UNPARSED
                return
            if learn_from >= 0 and fills == self.fills and c == 123 and buf[learn_from - 1] == 125:
                separator = buf[learn_from:pos]
                if b"\n" in separator and separator.strip() == b",":
                    between = b"}" + separator + b"{"
                learn_from = -1
            line = self.line_at(pos)
            end = -1
            if between is not None and c == 123:
                candidate = buf.find(between, pos)
                if candidate >= 0:
                    try:
                        value = loads(buf[pos : candidate + 1])
                    except decode_error:
                        pass  # a bad row: the scanner finds its end, orjson says what is wrong
                    else:
                        yield line, b"", None, value
                        end = candidate + 1
            if end < 0:
                start, end = self.value_end(pos)
                if end < 0:
                    message = b"the file ends inside the row that starts here (cut short, or a bracket never closed)"
                    yield line, message, "truncated-file", _UNPARSED
                    return
                yield line, self.buf[start:end], None, _UNPARSED
            pos = end
            comma_line = 0
            if not in_array:
                continue
            if between is None:
                learn_from, fills = end, self.fills
            pos = self.skip_whitespace(pos)
            if pos < len(self.buf) and self.buf[pos] == 44:  # ','
                comma_line = self.line_at(pos)
                pos += 1
            elif pos < len(self.buf) and self.buf[pos] != 93:
                yield self.line_at(pos), b"missing ',' between rows", "invalid-json", _UNPARSED


_UNPARSED = object()


def _json_rows(open_stream: Callable[[], Any], source: str, in_array: bool) -> Iterator[Record]:
    loads = orjson.loads
    stream = open_stream()
    line = 0
    seen = False
    try:
        splitter = _JsonSplitter(stream.read)
        for line, data, code, value in splitter.values(in_array):
            seen = True
            if code is not None:
                yield _problem(source, line, code, data.decode())
                continue
            if value is _UNPARSED:
                try:
                    value = loads(data)
                except orjson.JSONDecodeError as e:
                    yield _bad_element(source, line, data, e)
                    continue
            if type(value) is dict:
                yield Record(source, line, value, None, None)
            else:
                yield _non_object(source, line, value)
        if not seen:
            yield _empty(source)
    except _StreamError as e:
        yield _problem(source, line + 1, e.code, f"{e.message}; reading stopped after line {line}")
    finally:
        stream.close()


def _bad_element(source: str, line: int, data: bytes, error: Any) -> Record:
    """Why one JSON array element failed; places are text lines of the file."""

    def where(offset: int) -> str:
        before = data.count(b"\n", 0, offset)
        if not before:
            return f"line {line}"
        column = offset - data.rfind(b"\n", 0, offset)
        return f"line {line + before}, column {column}"

    nul = data.find(b"\x00")
    if nul >= 0:
        return _problem(source, line, "nul-byte", f"NUL byte at {where(nul)}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return _problem(
            source, line, "invalid-utf8", f"invalid UTF-8 at {where(e.start)} ({e.reason})"
        )
    return _problem(
        source, line, "invalid-json", f"invalid JSON at {where(error.pos)}: {error.msg}"
    )


def _iter_lines(stream: Any) -> Iterator[bytes]:
    """Lines with their newline kept (the last may have none)."""
    carry = b""
    while True:
        chunk = stream.read(BLOCK)
        if not chunk:
            break
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        for line in lines:
            yield line + b"\n"
    if carry:
        yield carry


def _csv_rows(open_stream: Callable[[], Any], source: str, delimiter: str) -> Iterator[Record]:
    # Messages cells easily pass the default 128 KiB cell limit.
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    stream = open_stream()
    bad: dict[int, tuple[str, str]] = {}  # physical line -> (code, message)

    def text_lines() -> Iterator[str]:
        for n, raw in enumerate(_iter_lines(stream), 1):
            nul = raw.find(b"\x00")
            if nul >= 0:
                bad.setdefault(n, ("nul-byte", f"NUL byte at byte {nul} of line {n}"))
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as e:
                bad.setdefault(
                    n, ("invalid-utf8", f"invalid UTF-8 at byte {e.start} of line {n} ({e.reason})")
                )
                yield raw.decode("utf-8", "replace")

    reader = csv.reader(text_lines(), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    previous = 0
    seen = False
    try:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                start, previous = previous + 1, reader.line_num
                seen = True
                if str(e) == "unexpected end of data":
                    yield _problem(
                        source,
                        start,
                        "truncated-line",
                        "a quoted cell is never closed (file cut short?)",
                    )
                else:
                    yield _problem(source, start, "invalid-csv", f"invalid CSV: {e}")
                continue
            start, previous = previous + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if bad:
                spoiled = [n for n in bad if n <= previous]
                if spoiled:
                    code, message = bad[min(spoiled)]
                    for n in spoiled:
                        del bad[n]
                    seen = True
                    yield _problem(source, start, code, message)
                    if header is None:
                        header = row
                    continue
            if header is None:
                header = row
                continue
            seen = True
            if len(row) > len(header):
                yield _problem(
                    source,
                    start,
                    "invalid-csv",
                    f"the row has {len(row)} cells but the header has {len(header)}",
                )
                continue
            yield Record(
                source,
                start,
                {name: _cell(cell) for name, cell in zip(header, row, strict=False) if cell != ""},
                None,
                None,
            )
        if not seen:
            yield _empty(source)
    except _StreamError as e:
        yield _problem(
            source, previous + 1, e.code, f"{e.message}; reading stopped after line {previous}"
        )
    finally:
        stream.close()


def _cell(cell: str) -> Any:
    if cell[0] in "[{":
        try:
            return orjson.loads(cell)
        except orjson.JSONDecodeError:
            pass  # text that merely starts with a bracket
    return cell


def _without_nulls(value: Any) -> Any:
    if type(value) is dict:
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if type(value) is list:
        return [_without_nulls(v) for v in value]
    return value


def _parquet_rows(path: str) -> Iterator[Record]:
    import pyarrow.parquet as pq

    line = 0
    try:
        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    line += 1
                    yield Record(path, line, _without_nulls(row), None, None)
    except Exception as e:  # pyarrow raises OSError, ArrowInvalid and others for damage
        yield _problem(
            path,
            line + 1,
            "corrupt-file",
            f"the Parquet data is damaged: {e}; reading stopped after row {line}",
        )
        return
    if not line:
        yield _empty(path)


def _arrow_rows(source: str, files: list[str]) -> Iterator[Record]:
    import pyarrow as pa

    line = 0
    for name in files:
        try:
            with pa.memory_map(name, "r") as mm:
                try:
                    reader: Any = pa.ipc.open_stream(mm)
                    batches = iter(reader)
                except pa.ArrowInvalid:
                    mm.seek(0)
                    reader = pa.ipc.open_file(mm)
                    batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
                for batch in batches:
                    for row in batch.to_pylist():
                        line += 1
                        yield Record(source, line, _without_nulls(row), None, None)
        except (pa.ArrowException, OSError) as e:
            yield _problem(
                source,
                line + 1,
                "corrupt-file",
                f"cannot read {os.path.basename(name)}: {e}; reading stopped after row {line}",
            )
            return
    if not line:
        yield _empty(source)
