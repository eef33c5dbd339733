"""The row readers for JSON Lines, CSV, Parquet and Arrow: each turns a stream (a path,
for Parquet and Arrow) into Records, with a problem Record in place of each row that
cannot be read. A JSON array, or JSON values one after another, is read in
``json_array``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from dataprep.reading.records import Record, empty, non_object, problem
from dataprep.reading.streams import BLOCK, StreamError


def jsonl_rows_lazy(open_stream: Callable[[], Any], source: str) -> Iterator[Record]:
    yield from jsonl_rows(open_stream(), source, 0, True, report_empty=True)


def jsonl_rows(
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
            except StreamError as e:
                yield problem(
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
                    yield non_object(source, line, value, raw)
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
                    yield non_object(source, line, value, raw)
        if report_empty and line - first_line == blank:
            yield empty(source)
    finally:
        stream.close()


def _bad_line(source: str, line: int, raw: bytes, error: Any, last: bool) -> Record:
    """Why one JSON Lines line failed, most specific reason first."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        return problem(source, line, "nul-byte", f"NUL byte at byte {nul} of the line", raw)
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
        return problem(source, line, code, message, raw)
    if last:
        message = (
            "the last line has no newline and is not complete JSON (file cut short?): "
            f"{error.msg} at column {error.colno}"
        )
        return problem(source, line, "truncated-line", message, raw)
    message = f"invalid JSON at column {error.colno}: {error.msg}"
    return problem(source, line, "invalid-json", message, raw)


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


def csv_rows(open_stream: Callable[[], Any], source: str, delimiter: str) -> Iterator[Record]:
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
                    yield problem(
                        source,
                        start,
                        "truncated-line",
                        "a quoted cell is never closed (file cut short?)",
                    )
                else:
                    yield problem(source, start, "invalid-csv", f"invalid CSV: {e}")
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
                    yield problem(source, start, code, message)
                    if header is None:
                        header = row
                    continue
            if header is None:
                header = row
                continue
            seen = True
            if len(row) > len(header):
                yield problem(
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
            yield empty(source)
    except StreamError as e:
        yield problem(
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


def parquet_rows(path: str) -> Iterator[Record]:
    import pyarrow.parquet as pq

    line = 0
    try:
        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(batch_size=1024):
                for row in batch.to_pylist():
                    line += 1
                    yield Record(path, line, _without_nulls(row), None, None)
    except Exception as e:  # pyarrow raises OSError, ArrowInvalid and others for damage
        yield problem(
            path,
            line + 1,
            "corrupt-file",
            f"the Parquet data is damaged: {e}; reading stopped after row {line}",
        )
        return
    if not line:
        yield empty(path)


def arrow_rows(source: str, files: list[str]) -> Iterator[Record]:
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
            yield problem(
                source,
                line + 1,
                "corrupt-file",
                f"cannot read {os.path.basename(name)}: {e}; reading stopped after row {line}",
            )
            return
    if not line:
        yield empty(source)
