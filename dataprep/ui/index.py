"""The row index of a plain JSON Lines file: where each row starts, found in one
streaming pass, so that any page of a file of any size is read by ``seek``.

Memory is the index itself (8 bytes a row, plus 8 a row for the line numbers when the
file has blank lines); the file is never held. The index grows while it is built, so the
first pages can be read before the pass ends (``wait_for``).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "rows.jsonl")
>>> from pathlib import Path
>>> _ = Path(path).write_bytes(b'{"text": "a"}\\n\\n{"text": "b"}\\n{"text": "c"}')
>>> index = RowIndex(path)
>>> index.build()
>>> index.rows, index.line_of(1), index.locate(4)
(3, 3, 2)
>>> [r.value["text"] for r in index.read(1, 2)]
['b', 'c']
"""

from __future__ import annotations

import os
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dataprep.reading import Record

BLOCK = 8 << 20  # bytes read at a time by the indexing pass
# A line this short may be only whitespace (a blank line, which is no row): checked by hand.
SHORT = 8


def is_indexable(path: str) -> bool:
    """Whether ``path`` is a file this index reads: plain UTF-8 JSON Lines (the one kind
    that can be cut into rows by bytes; validate splits the same files the same way)."""
    from dataprep.reading import sniff_input

    if not os.path.isfile(path):
        return False
    info = sniff_input(path)
    return info.kind == "jsonl" and not info.compression and info.encoding == "utf-8"


class RowIndex:
    """Byte offsets of the rows (non-blank lines) of a plain JSON Lines file."""

    def __init__(self, path: str):
        from dataprep.reading import sniff_input

        self.path = path
        self.size = os.path.getsize(path)
        self.start = 3 if sniff_input(path).bom else 0
        self.offsets = array("Q")  # row -> byte where it starts
        self.lines: array[int] | None = None  # row -> line, once a blank line is seen
        self.scanned = 0  # bytes read by the pass so far
        self.done = False
        self.error: str | None = None
        self._grown = threading.Condition()

    @property
    def rows(self) -> int:
        """Rows indexed so far (all of them once ``done``)."""
        return len(self.offsets)

    def build(self) -> None:
        """The one streaming pass; safe to run in a thread while pages are read."""
        try:
            self._scan()
        except OSError as e:
            self.error = f"cannot read: {e.strerror or e}"
        finally:
            with self._grown:
                self.done = True
                self._grown.notify_all()

    def _scan(self) -> None:
        import numpy as np

        line = 0  # lines before the current block's first line start
        line_start = self.start  # where the line being read started
        with open(self.path, "rb") as f:
            f.seek(self.start)
            pos = self.start
            while True:
                block = f.read(BLOCK)
                if not block:
                    break
                ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10) + pos
                starts = np.concatenate(([line_start], ends[:-1] + 1)) if len(ends) else None
                if starts is not None:
                    self._add(starts, ends, line)
                    line += len(ends)
                    line_start = int(ends[-1]) + 1
                pos += len(block)
                with self._grown:
                    self.scanned = pos
                    self._grown.notify_all()
        if line_start < self.size:  # a last line with no newline
            self._add(np.array([line_start]), np.array([self.size]), line)

    def _add(self, starts, ends, first_line: int) -> None:  # numpy arrays
        import numpy as np

        lengths = ends - starts
        keep = lengths > 0
        short = np.flatnonzero(keep & (lengths <= SHORT))
        if len(short):
            with open(self.path, "rb") as f:
                for i in short.tolist():
                    f.seek(int(starts[i]))
                    keep[i] = bool(f.read(int(lengths[i])).strip())
        numbers = np.arange(first_line + 1, first_line + 1 + len(starts), dtype=np.uint64)
        if self.lines is None and not keep.all():
            # The first blank line: from here on rows and lines differ, so keep both.
            self.lines = array("Q", range(1, len(self.offsets) + 1))
        kept = starts[keep].astype(np.uint64)
        with self._grown:
            if self.lines is not None:
                self.lines.frombytes(numbers[keep].tobytes())
            self.offsets.frombytes(kept.tobytes())

    def wait_for(self, rows: int, timeout: float) -> bool:
        """Wait until ``rows`` rows are indexed or the pass is over; False on timeout."""
        with self._grown:
            return self._grown.wait_for(lambda: self.rows >= rows or self.done, timeout)

    def line_of(self, row: int) -> int:
        """The 1-based line of row ``row`` (0-based)."""
        return self.lines[row] if self.lines is not None else row + 1

    def locate(self, line: int) -> int:
        """The row at ``line``, or the first row after it (``rows`` when none)."""
        if self.lines is None:
            return min(max(line - 1, 0), self.rows)
        return bisect_left(self.lines, line)

    def read(self, first: int, count: int) -> Iterator[Record]:
        """Records of rows ``first`` to ``first + count`` (fewer at the end), read by seek,
        with the reader's line numbers and problem codes (``dataprep.reading``)."""
        from dataprep.reading import JsonlChunk, read_jsonl_chunk

        with self._grown:
            rows = self.rows
            if first >= rows:
                return iter(())
            start = self.offsets[first]
            last = first + count
            end = self.offsets[last] if last < rows else None
        if end is None:
            # The last rows indexed so far: read to the end of that row's line.
            end = self._end_of_line(self.offsets[rows - 1]) if not self.done else self.size
        chunk = JsonlChunk(self.path, start, end, self.line_of(first))
        return read_jsonl_chunk(chunk)

    def _end_of_line(self, offset: int) -> int:
        with open(self.path, "rb") as f:
            f.seek(offset)
            while True:
                block = f.read(1 << 16)
                if not block:
                    return self.size
                at = block.find(b"\n")
                if at >= 0:
                    return offset + at + 1
                offset += len(block)
