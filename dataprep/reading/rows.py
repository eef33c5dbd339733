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

from dataprep.errors import InputError
from dataprep.reading.limits import max_row_bytes, too_large_message
from dataprep.reading.records import Record, empty, non_object, problem
from dataprep.reading.streams import BLOCK, StreamError
from dataprep.reading.values import (
    ValueProblem,
    arrow_needs_conversion,
    from_json,
    parse_writable,
    reparse,
    to_json_value,
)
from dataprep.validate.problems import Problem


def jsonl_rows_lazy(open_stream: Callable[[], Any], source: str) -> Iterator[Record]:
    yield from jsonl_rows(open_stream(), source, 0, True, report_empty=True)


def jsonl_rows(
    stream: Any, source: str, line: int, at_end: bool, report_empty: bool = False
) -> Iterator[Record]:
    """The hot loop. ``line`` is the number of the line before the stream's first byte.

    Only one try per row, and blank lines are counted on the error path, so a good row
    costs a parse, a type check and a Record. A line longer than ``max_row_bytes`` is
    never held whole: once the bytes kept for it pass the limit, the rest is dropped
    block by block up to its newline (``row-too-large``).
    """
    loads = from_json
    read = stream.read
    limit = max_row_bytes()
    carry: list[bytes] = []
    carried = 0  # bytes in carry
    skipped = -1  # >= 0: inside a line over the limit, this many bytes dropped so far
    first_line = line
    blank = 0
    try:
        while True:
            try:
                chunk = read(BLOCK)
            except StreamError as e:
                if skipped >= 0:
                    yield _too_large(source, line + 1, skipped + carried, limit, exact=False)
                    line += 1
                yield problem(
                    source, line + 1, e.code, f"{e.message}; reading stopped after line {line}"
                )
                return
            if not chunk:
                break
            if skipped >= 0:
                end = chunk.find(b"\n")
                if end < 0:
                    skipped += len(chunk)
                    continue
                line += 1
                yield _too_large(source, line, skipped + end, limit)
                skipped = -1
                chunk = chunk[end + 1 :]
            if not carry and chunk[:1].isspace() and chunk[-1:].isspace() and chunk.isspace():
                # A block of blank lines (padding, or a compressed file of newlines):
                # counted at C speed, not line by line.
                n = chunk.count(b"\n")
                line += n
                blank += n
                tail = chunk[chunk.rfind(b"\n") + 1 :]
                if tail:
                    carry.append(tail)
                    carried = len(tail)
                continue
            if b"\n" not in chunk:
                carry.append(chunk)  # one long line: join once, not once per block
                carried += len(chunk)
                if carried > limit:
                    skipped, carry, carried = carried, [], 0
                continue
            if carry:
                carry.append(chunk)
                chunk = b"".join(carry)
                carry = []
            lines = chunk.split(b"\n")
            tail = lines.pop()
            if carried + len(chunk) > limit:  # a line in this block may pass the limit
                # Such a line (at most limit + BLOCK bytes, held once) stands as its size.
                lines = [raw if len(raw) <= limit else len(raw) for raw in lines]
            carried = 0
            if tail:
                carry.append(tail)
                carried = len(tail)
                if carried > limit:
                    skipped, carry, carried = carried, [], 0
            for raw in lines:
                line += 1
                try:
                    value = loads(raw, catch_duplicate_keys=True, allow_inf_nan=False)
                except ValueError as e:
                    if raw.strip():
                        yield _bad_row(source, line, raw, e, last=False)
                    else:
                        blank += 1
                    continue
                except TypeError:  # raw is the size of a line over the limit
                    yield _too_large(source, line, raw, limit)
                    continue
                if type(value) is dict:
                    yield Record(source, line, value, raw, None)
                else:
                    yield non_object(source, line, value, raw)
        if skipped >= 0:
            line += 1
            yield _too_large(source, line, skipped, limit)
        raw = b"".join(carry)
        if raw.strip():
            line += 1
            try:
                value = loads(raw, catch_duplicate_keys=True, allow_inf_nan=False)
            except ValueError as e:
                yield _bad_row(source, line, raw, e, last=at_end)
            else:
                if type(value) is dict:
                    yield Record(source, line, value, raw, None)
                else:
                    yield non_object(source, line, value, raw)
        if report_empty and line - first_line == blank:
            yield empty(source)
    finally:
        stream.close()


def _too_large(source: str, line: int, size: int, limit: int, exact: bool = True) -> Record:
    return problem(source, line, "row-too-large", too_large_message(size, limit, exact))


def _bad_row(source: str, line: int, raw: bytes, error: ValueError, last: bool) -> Record:
    """A line jiter refused: a value problem (duplicate key, too deep), or bad JSON
    worded from orjson's reading of it. A line both accept after all is a row."""
    try:
        value = reparse(raw, error)
    except ValueProblem as e:
        return problem(source, line, e.code, e.message, raw)
    except orjson.JSONDecodeError as e:
        return _bad_line(source, line, raw, e, last)
    if type(value) is dict:
        return Record(source, line, value, raw, None)
    return non_object(source, line, value, raw)


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


def _iter_lines(stream: Any, limit: int, too_large: dict[int, int]) -> Iterator[bytes]:
    """Lines with their newline kept (the last may have none). A line longer than
    ``limit`` is dropped as it is read, never held: it comes out as ``-\n`` (one cell,
    so the row that holds it is reported) and its number and size go in ``too_large``."""
    carry = b""
    skipped = -1
    number = 0
    while True:
        chunk = stream.read(BLOCK)
        if not chunk:
            break
        if skipped >= 0:
            end = chunk.find(b"\n")
            if end < 0:
                skipped += len(chunk)
                continue
            number += 1
            too_large[number] = skipped + end
            yield b"-\n"
            skipped = -1
            chunk = chunk[end + 1 :]
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        for line in lines:
            number += 1
            if len(line) > limit:
                too_large[number] = len(line)
                yield b"-\n"
            else:
                yield line + b"\n"
        if len(carry) > limit:
            skipped, carry = len(carry), b""
    if skipped >= 0:
        too_large[number + 1] = skipped
        yield b"-\n"
    elif carry:
        yield carry


def text_rows(open_stream: Callable[[], Any], source: str) -> Iterator[Record]:
    """Plain text, a document a line: ``{"text": line}`` without its line ending; blank
    lines are not rows (as in JSON Lines). A line over the row limit, holding a NUL byte or
    invalid UTF-8 is a problem at its line, like a JSON Lines row.

    >>> import io
    >>> data = b"first doc\\n\\n  second doc \\r\\n"
    >>> [(r.line, r.value) for r in text_rows(lambda: io.BytesIO(data), "wiki.txt")]
    [(1, {'text': 'first doc'}), (3, {'text': '  second doc '})]
    """
    limit = max_row_bytes()
    stream = open_stream()
    too_large: dict[int, int] = {}
    seen = False
    n = 0
    try:
        for n, raw in enumerate(_iter_lines(stream, limit, too_large), 1):
            line = raw.rstrip(b"\n").removesuffix(b"\r")
            if n in too_large:
                seen = True
                yield _too_large(source, n, too_large.pop(n), limit)
                continue
            if not line.strip():
                continue
            seen = True
            nul = line.find(b"\x00")
            if nul >= 0:
                yield problem(source, n, "nul-byte", f"NUL byte at byte {nul} of line {n}", line)
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                message = f"invalid UTF-8 at byte {e.start} of line {n} ({e.reason})"
                yield problem(source, n, "invalid-utf8", message, line)
                continue
            yield Record(source, n, {"text": text}, line, None)
        if not seen:
            yield empty(source)
    except StreamError as e:
        yield problem(source, n + 1, e.code, f"{e.message}; reading stopped after line {n}")
    finally:
        stream.close()


def csv_rows(open_stream: Callable[[], Any], source: str, delimiter: str) -> Iterator[Record]:
    limit = max_row_bytes()
    # Messages cells easily pass the default 128 KiB cell limit; a row's limit bounds them.
    csv.field_size_limit(min(limit, 2**31 - 1))
    stream = open_stream()
    bad: dict[int, tuple[str, str]] = {}  # physical line -> (code, message)
    too_large: dict[int, int] = {}  # physical line -> its size

    def text_lines() -> Iterator[str]:
        for n, raw in enumerate(_iter_lines(stream, limit, too_large), 1):
            if n in too_large:
                bad.setdefault(n, ("row-too-large", too_large_message(too_large.pop(n), limit)))
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
                if str(e).startswith("field larger than field limit"):
                    message = too_large_message(limit, limit, exact=False)
                    yield problem(source, start, "row-too-large", message)
                elif str(e) == "unexpected end of data":
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
                _check_header(source, start, header)
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
            try:
                value = {
                    name: _cell(cell) for name, cell in zip(header, row, strict=False) if cell != ""
                }
            except ValueProblem as e:
                yield problem(source, start, e.code, e.message)
                continue
            yield Record(source, start, value, None, None)
        if not seen:
            yield empty(source)
    except StreamError as e:
        yield problem(
            source, previous + 1, e.code, f"{e.message}; reading stopped after line {previous}"
        )
    finally:
        stream.close()


def _check_header(source: str, line: int, header: list[str]) -> None:
    """A header that names a column twice would lose one of them in every row."""
    first: dict[str, int] = {}
    for i, name in enumerate(header, 1):
        if name in first:
            raise InputError(
                f"{source}:{line}",
                f"the CSV header names column {name!r} twice (columns {first[name]} and {i}): "
                "every row would lose one of them; rename one",
                "duplicate-column",
            )
        first[name] = i


def _cell(cell: str) -> Any:
    if cell[0] in "[{":
        try:
            return parse_writable(cell.encode())
        except orjson.JSONDecodeError:
            pass  # text that merely starts with a bracket
    return cell


def _without_nulls(value: Any) -> Any:
    if type(value) is dict:
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if type(value) is list:
        return [_without_nulls(v) for v in value]
    return value


def _json_rows(
    rows: list[dict[str, Any]], convert: bool, source: str, line: int
) -> Iterator[Record]:
    """Records of rows as pyarrow gives them: nulls dropped, and values that JSON cannot
    hold converted or the row refused (``values.to_json_value``) when ``convert``."""
    for row in rows:
        line += 1
        value = _without_nulls(row)
        if convert:
            try:
                value = to_json_value(value)
            except ValueProblem as e:
                yield Record(
                    source, line, None, None, Problem(source, line, e.path, e.message, e.code)
                )
                continue
        yield Record(source, line, value, None, None)


def parquet_rows(path: str) -> Iterator[Record]:
    import pyarrow.parquet as pq

    line = 0
    try:
        with pq.ParquetFile(path) as pf:
            convert = arrow_needs_conversion(pf.schema_arrow)
            for batch in pf.iter_batches(batch_size=1024):
                yield from _json_rows(batch.to_pylist(), convert, path, line)
                line += batch.num_rows
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
                convert = arrow_needs_conversion(reader.schema)
                for batch in batches:
                    yield from _json_rows(batch.to_pylist(), convert, source, line)
                    line += batch.num_rows
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
