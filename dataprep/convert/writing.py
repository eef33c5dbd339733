"""Writing rows to dataset files, atomically.

``open_writer(path)`` gives a ``RowWriter``: a context manager taking one dict at a time
(``write``), or one row already serialised as a JSON line (``write_json_line``: the JSON
Lines writer copies it as it is, so rows that another process serialised are not parsed
and dumped again).
The format follows the name: ``.jsonl`` (also the default for an unknown extension),
``.json`` (a JSON array, one element per line, streamed), ``.parquet`` (zstd inside, in
batches of at most ``PARQUET_BATCH`` rows and about ``PARQUET_BATCH_BYTES`` of data, so
memory stays bounded); a ``.gz`` or ``.zst`` suffix compresses a text format; ``-``
writes to stdout. ``fmt_hint`` (``jsonl``, ``json``, ``parquet``) overrides the name.

The output appears only when complete: rows go to a hidden temporary file in the same
folder, which is flushed, fsynced and renamed over ``path`` when the ``with`` block ends
normally. On an exception or Ctrl-C the temporary file is removed and nothing appears.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "out.jsonl")
>>> with open_writer(path) as w:
...     w.write({"text": "héllo"})
...     w.write({"text": "wörld"})
>>> from pathlib import Path
>>> Path(path).read_text(encoding="utf-8")
'{"text":"héllo"}\\n{"text":"wörld"}\\n'

Parquet infers its schema from the rows. A later batch with new keys or wider types
(null -> string, int -> float) rewrites what was written under the unified schema, so
rows whose keys differ (messages with and without ``tool_calls``) work; types that cannot
be unified (a string in one row, a list in another) raise DataprepError naming the column.
Absent keys and nested fields are stored as nulls (Parquet has no "absent");
``dataprep.reading`` drops them again when it reads the file.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import sys
from collections.abc import Iterable
from typing import Any, BinaryIO

import orjson

from dataprep.atomic import sync_folder, temporary_path
from dataprep.errors import DataprepError, UsageError

PARQUET_BATCH = 10_000
# Rows of long conversations make 10k-row batches heavy (the rows as Python objects weigh
# several times their Arrow size): batches are also cut at about this much Arrow data.
PARQUET_BATCH_BYTES = 16 << 20
FORMATS = ("jsonl", "json", "parquet")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
_COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def output_format(path: str, fmt_hint: str | None = None) -> tuple[str, str | None]:
    """The (format, compression) ``open_writer`` would use for ``path``.

    >>> output_format("out/train.parquet")
    ('parquet', None)
    >>> output_format("train.json.zst")
    ('json', 'zstd')
    >>> output_format("-", "json")
    ('json', None)
    """
    name = os.path.basename(path).lower()
    stem, suffix = os.path.splitext(name)
    compression = _COMPRESSIONS.get(suffix)
    if compression:
        suffix = os.path.splitext(stem)[1]
    if fmt_hint is not None:
        if fmt_hint not in FORMATS:
            raise UsageError(
                f"unknown output format {fmt_hint!r}: choose one of {', '.join(FORMATS)}"
            )
        fmt = fmt_hint
    else:
        fmt = _EXTENSIONS.get(suffix, "jsonl")
    if fmt == "parquet" and compression:
        raise UsageError(
            f"{path}: Parquet compresses inside; name the output .parquet, without {name[len(stem) :]}"
        )
    return fmt, compression


def open_writer(path: str, fmt_hint: str | None = None) -> RowWriter:
    """A writer for ``path``; use it as a context manager (see the module docstring)."""
    fmt, compression = output_format(path, fmt_hint)
    cls = {"jsonl": _JsonlWriter, "json": _JsonWriter, "parquet": _ParquetWriter}[fmt]
    return cls(path, fmt, compression)


class RowWriter:
    """Rows in, one file out. ``rows`` counts the rows written so far.

    Use ``with open_writer(path) as w: w.write(row)``; or call ``commit()`` to finish
    (the output appears) and ``abort()`` to give up (nothing appears).
    """

    def __init__(self, path: str, fmt: str, compression: str | None):
        self.path = path
        self.format = fmt
        self.compression = compression
        self.rows = 0
        self._tmp: str | None = None
        self._done = False
        if path == "-":
            self._file: BinaryIO = _StdoutSink(sys.stdout.buffer)
        else:
            self._tmp = _create_temporary(path)
            self._file = open(self._tmp, "wb", buffering=1 << 20)  # noqa: SIM115
        self._out: Any = self._file
        try:
            if compression == "gzip":
                # Level 6: most of level 9's ratio at a fraction of its time.
                self._out = gzip.GzipFile(
                    filename="", mode="wb", fileobj=self._file, compresslevel=6, mtime=0
                )
            elif compression == "zstd":
                import zstandard

                self._out = zstandard.ZstdCompressor(level=3).stream_writer(
                    self._file, closefd=False
                )
            self._start()
        except BaseException:
            self.abort()
            raise

    def write(self, row: dict[str, Any]) -> None:
        raise NotImplementedError  # each format's writer defines it

    def write_many(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def write_json_line(self, line: bytes) -> None:
        """Write one row given as its JSON text (a JSON object; a trailing newline is
        allowed), e.g. as ``orjson.dumps`` wrote it. The text is trusted to be valid
        JSON: formats that store JSON text store it as it is."""
        self.write(orjson.loads(line))

    def commit(self) -> None:
        """Finish the file and move it into place."""
        if self._done:
            return
        tmp = self.seal()
        if tmp is not None:
            try:
                os.replace(tmp, self.path)
            except BaseException:
                self.abort()
                raise
            self._tmp = None
            # The rename itself is durable only once the folder entry is on disk.
            sync_folder(os.path.dirname(os.path.abspath(self.path)))

    def seal(self) -> str | None:
        """Finish the file, on disk, under its temporary name (returned; None for stdout),
        for a caller that moves it into place with others (``dataprep.atomic.commit``);
        ``abort`` still removes it."""
        if self._done:
            return self._tmp
        try:
            self._finish()
            if self._out is not self._file:
                self._out.close()  # flushes the compressor's end into the file
            self._file.flush()
            if self._tmp is not None:
                os.fsync(self._file.fileno())
            self._file.close()
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self._tmp

    def abort(self) -> None:
        """Stop and remove the temporary file: no output appears."""
        self._done = True
        self._abandon()
        for stream in (self._out, self._file):
            with contextlib.suppress(Exception):
                stream.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._tmp)
            self._tmp = None

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def _start(self) -> None:
        pass

    def _finish(self) -> None:
        pass

    def _abandon(self) -> None:
        pass


_JSONL_OPTIONS = orjson.OPT_APPEND_NEWLINE


def _dumps(row: Any, option: int | None = None) -> bytes:
    try:
        return orjson.dumps(row, option=option)
    except TypeError as e:  # orjson.JSONEncodeError: a value JSON cannot hold
        raise DataprepError(f"cannot write a row as JSON: {e}") from e


class _JsonlWriter(RowWriter):
    def write(self, row: dict[str, Any]) -> None:
        self._out.write(_dumps(row, _JSONL_OPTIONS))
        self.rows += 1

    def write_json_line(self, line: bytes) -> None:
        self._out.write(line if line.endswith(b"\n") else line + b"\n")
        self.rows += 1


class _JsonWriter(RowWriter):
    """``[``, then one element per line, then ``]``: valid JSON that diffs line by line."""

    def _start(self) -> None:
        self._out.write(b"[")

    def write(self, row: dict[str, Any]) -> None:
        self._out.write((b",\n" if self.rows else b"\n") + _dumps(row))
        self.rows += 1

    def write_json_line(self, line: bytes) -> None:
        self._out.write((b",\n" if self.rows else b"\n") + line.rstrip(b"\r\n"))
        self.rows += 1

    def _finish(self) -> None:
        self._out.write(b"\n]\n" if self.rows else b"]\n")


class _ParquetWriter(RowWriter):
    def _start(self) -> None:
        self._batch: list[dict[str, Any]] = []
        self._writer: Any = None
        self._schema: Any = None
        # A first batch small enough to measure rows by; later ones sized from it.
        self._limit = min(PARQUET_BATCH, 1000)

    def write(self, row: dict[str, Any]) -> None:
        if type(row) is not dict:
            raise DataprepError(
                f"row {self.rows + 1}: Parquet rows must be objects, not {type(row).__name__}"
            )
        self._batch.append(row)
        self.rows += 1
        if len(self._batch) >= self._limit:
            self._flush_batch()

    def _finish(self) -> None:
        if self._batch or self._writer is None:
            self._flush_batch()
        self._writer.close()

    def _abandon(self) -> None:
        if getattr(self, "_writer", None) is not None:
            with contextlib.suppress(Exception):
                self._writer.close()

    def _flush_batch(self) -> None:
        import pyarrow as pa

        rows, self._batch = self._batch, []
        first = self.rows - len(rows) + 1
        table = _table(rows, first)
        if self._writer is None:
            self._open(table.schema)
        elif not table.schema.equals(self._schema):
            unified = _unify(self._schema, table.schema, first)
            if not unified.equals(self._schema):
                self._rewrite(unified)
            table = pa.Table.from_pylist(rows, schema=self._schema)
        self._writer.write_table(table)
        per_row = max(1, table.nbytes // max(1, len(rows)))
        self._limit = max(1, min(PARQUET_BATCH, PARQUET_BATCH_BYTES // per_row))

    def _open(self, schema: Any) -> None:
        import pyarrow.parquet as pq

        self._schema = schema
        self._writer = pq.ParquetWriter(self._out, schema, compression="zstd")

    def _rewrite(self, schema: Any) -> None:
        """Write what is already written again, under a wider schema.

        Happens only when a batch brings new keys or wider types, so at most a few times
        per file whatever its size.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._tmp is None:
            raise DataprepError(
                "Parquet to stdout needs every row's keys and types in the first "
                f"{PARQUET_BATCH} rows; write to a file instead"
            )
        self._writer.close()
        self._file.close()
        old = self._tmp
        self._tmp = _create_temporary(self.path)
        self._file = self._out = open(self._tmp, "wb", buffering=1 << 20)  # noqa: SIM115
        self._open(schema)
        with pq.ParquetFile(old) as previous:
            for batch in previous.iter_batches(batch_size=PARQUET_BATCH):
                self._writer.write_table(pa.Table.from_pylist(batch.to_pylist(), schema=schema))
        os.remove(old)


def _table(rows: list[dict[str, Any]], first: int) -> Any:
    import pyarrow as pa

    # Table.from_pylist takes its columns from the first row's keys only; every key of
    # the batch must be a column, or rows' fields are lost without a word.
    keys = dict.fromkeys(key for row in rows for key in row)
    try:
        return pa.table({key: pa.array([row.get(key) for row in rows]) for key in keys})
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        column = _conflicting_column(rows)
        where = f"column {column!r}" if column else "a column"
        raise DataprepError(
            f"cannot write rows {first}-{first + len(rows) - 1} as Parquet: {where} holds values "
            f"of different kinds ({e}); write JSON Lines instead (-o out.jsonl)"
        ) from e


def _conflicting_column(rows: list[dict[str, Any]]) -> str | None:
    import pyarrow as pa

    for key in dict.fromkeys(k for row in rows for k in row):
        try:
            pa.array([row.get(key) for row in rows])
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return key
    return None


def _unify(old: Any, new: Any, first: int) -> Any:
    import pyarrow as pa

    try:
        return pa.unify_schemas([old, new], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        column = next(
            (
                f.name
                for f in new
                if f.name in old.names and not _fields_unify(old.field(f.name), f)
            ),
            None,
        )
        where = f"column {column!r}" if column else "a column"
        raise DataprepError(
            f"cannot write row {first} onwards as Parquet: {where} changes type "
            f"({e}); write JSON Lines instead (-o out.jsonl)"
        ) from e


def _fields_unify(a: Any, b: Any) -> bool:
    import pyarrow as pa

    try:
        pa.unify_schemas([pa.schema([a]), pa.schema([b])], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return False
    return True


class _StdoutSink:
    """stdout for a writer: flushed at the end, never closed (others may still print)."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.closed = False
        self.position = 0  # Parquet's writer asks where it is

    def write(self, data: bytes) -> int:
        self.position += len(data)
        return self.stream.write(data)

    def flush(self) -> None:
        self.stream.flush()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(ValueError):
                self.stream.flush()

    def tell(self) -> int:
        return self.position

    def fileno(self) -> int:
        return self.stream.fileno()


def _create_temporary(path: str) -> str:
    """A new hidden file beside ``path``, created with the user's usual permissions."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: it is a folder")
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: the folder {folder} does not exist")
    for _ in range(100):
        # Named with our pid: a run killed before it ends leaves it to the next to clean.
        tmp = os.fspath(temporary_path(os.path.join(folder, os.path.basename(path)), "tmp"))
        try:
            # 0o666 less the umask, as a plain open() would give (mkstemp gives 0o600).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from e
        os.close(fd)
        return tmp
    raise UsageError(f"cannot write {path}: no free temporary name in {folder}")
