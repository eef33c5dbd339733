"""Reading a JSON array, or JSON values one after another, as a stream of rows.

orjson parses whole documents only, so ``_JsonSplitter`` first cuts the text into its
top-level values (or the array's elements) and orjson parses each: memory stays bounded by
the largest element, and each row keeps the text line where it starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from dataprep.reading.limits import max_row_bytes, too_large_message
from dataprep.reading.records import Record, empty, non_object, problem
from dataprep.reading.streams import BLOCK, StreamError
from dataprep.reading.values import ValueProblem, from_json, reparse

# JSON text outside strings and brackets, and whole strings, in one C-level match. The
# scanner then stops only at brackets (or at a string the buffer cuts off).
_SKIP = re.compile(rb'(?:[^"\[\]{}]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.S)
_STRING_TAIL = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_SCALAR = re.compile(rb'[^\s,\[\]{}"]+')
_WHITESPACE = re.compile(rb"[ \t\r\n]*")
# For skipping an element over the size limit: text outside strings up to a bracket or a
# quote, and the inside of a string up to its closing quote (or the buffer's end).
_OUTSIDE = re.compile(rb'[^"\[\]{}]*')
_SCALAR_REST = re.compile(rb'[^\s,\[\]{}"]*')
_STRING_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.S)


class _JsonSplitter:
    """Splits JSON text into its top-level values (or an array's elements) as bytes.

    Tracks only string, escape and bracket state, so a multi-GB array streams with
    memory bounded by the largest element; orjson then parses each element.
    """

    def __init__(self, read: Callable[[int], bytes], limit: int | None = None):
        self.read = read
        self.limit = max_row_bytes() if limit is None else limit
        self.offset = 0  # the offset in the text of ``buf[0]``
        self.skipped = 0  # the size of the last value skipped for being over the limit
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
        self.offset += mark
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
                    if len(buf) - start > self.limit:
                        return self.skip(start)
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
                if len(self.buf) - start > self.limit:
                    return self.skip(start)
                start -= self.fill(start)
        while True:
            m = _SCALAR.match(self.buf, start)
            if m is None:
                return start, start + 1  # a stray ',' or '}': orjson will say what is wrong
            if m.end() < len(self.buf) or self.eof:
                return start, m.end()
            if len(self.buf) - start > self.limit:
                return self.skip(start)
            start -= self.fill(start)

    def skip(self, start: int) -> tuple[int, int]:
        """Scan past the value at ``start`` keeping only the bytes not yet scanned, for a
        value over the size limit; (start, end) as ``value_end``, with ``start`` no longer
        meaningful and ``self.skipped`` set to the value's size."""
        begin = self.offset + start
        pos = start
        depth = 0
        in_string = False
        scalar = self.buf[start] not in b'{["'
        while True:
            buf = self.buf
            if scalar:
                pos = _SCALAR_REST.match(buf, pos).end()
                if pos < len(buf) or self.eof:
                    break
            elif in_string:
                pos = _STRING_BODY.match(buf, pos).end()
                if pos < len(buf) and buf[pos] == 34:
                    in_string = False
                    pos += 1
                    if depth == 0:
                        break
                    continue
            else:
                pos = _OUTSIDE.match(buf, pos).end()
                if pos < len(buf):
                    c = buf[pos]
                    pos += 1
                    if c == 34:
                        in_string = True
                    elif c in b"{[":
                        depth += 1
                    else:
                        depth -= 1
                        if depth <= 0:
                            break
                    continue
            # Out of bytes (or at a lone backslash that escapes the next block's first).
            if self.eof:
                self.skipped = self.offset + len(buf) - begin
                return pos, -1
            pos -= self.fill(pos)
        self.skipped = self.offset + pos - begin
        return pos, pos

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
        loads = from_json
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
                if candidate >= 0 and candidate - pos < self.limit:
                    try:
                        value = loads(
                            buf[pos : candidate + 1], catch_duplicate_keys=True, allow_inf_nan=False
                        )
                    except ValueError:
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
                size = self.skipped or end - start
                if size > self.limit:  # skipped, or found whole within one read
                    message = too_large_message(size, self.limit).encode()
                    self.skipped = 0
                    yield line, message, "row-too-large", _UNPARSED
                else:
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


def json_rows(open_stream: Callable[[], Any], source: str, in_array: bool) -> Iterator[Record]:
    loads = from_json
    dumps = orjson.dumps
    stream = open_stream()
    line = 0
    seen = False
    try:
        splitter = _JsonSplitter(stream.read)
        for line, data, code, value in splitter.values(in_array):
            seen = True
            if code is not None:
                yield problem(source, line, code, data.decode())
                continue
            if value is _UNPARSED:
                try:
                    value = loads(data, catch_duplicate_keys=True, allow_inf_nan=False)
                except ValueError as error:
                    try:
                        value = reparse(data, error)
                    except ValueProblem as e:
                        yield problem(source, line, e.code, e.message)
                        continue
                    except orjson.JSONDecodeError as e:
                        yield _bad_element(source, line, data, e)
                        continue
            try:
                # Rows read here have no raw bytes: later stages serialise them (duplicate
                # detection, rejects), so a value orjson cannot write (an integer past
                # 64 bits, which jiter keeps exactly) is refused here, at its line.
                dumps(value)
            except TypeError as e:
                yield problem(source, line, "unsupported-value", f"cannot be written as JSON: {e}")
                continue
            if type(value) is dict:
                yield Record(source, line, value, None, None)
            else:
                yield non_object(source, line, value)
        if not seen:
            yield empty(source)
    except StreamError as e:
        yield problem(source, line + 1, e.code, f"{e.message}; reading stopped after line {line}")
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
        return problem(source, line, "nul-byte", f"NUL byte at {where(nul)}")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return problem(
            source, line, "invalid-utf8", f"invalid UTF-8 at {where(e.start)} ({e.reason})"
        )
    return problem(source, line, "invalid-json", f"invalid JSON at {where(error.pos)}: {error.msg}")
