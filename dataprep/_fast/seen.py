"""The duplicate-row table in 16-32 bytes a row.

The reference it must equal is ``dataprep.validate.seen.FirstLines`` (a dict of row hash
-> the line it was first seen at); ``tests/dataprep/_fast/test_seen.py`` holds them equal
on generated sequences of hashes. ``validate`` keeps one per file, and a parallel run one
more, in the parent, to find duplicates across the parts its workers checked: on a file
of tens of millions of rows a dict would take gigabytes.
"""

from __future__ import annotations

from array import array


class SeenRows:
    """A set of 64-bit row hashes, each with the line it was first seen at.

    Open addressing in two flat arrays, 12 bytes a slot, between 3/8 and 3/4 full: 16 to
    32 bytes a row, where a Python ``set`` of ints would take over 60 (and a dict of
    lines over 100). A key of 0 marks an empty slot, so the hash 0 is kept apart.

    >>> seen = SeenRows()
    >>> seen.add(hash(b"a"), 1), seen.add(hash(b"b"), 2), seen.add(hash(b"a"), 3)
    (0, 0, 1)
    """

    def __init__(self, capacity: int = 1 << 16):
        self._zero = 0  # the line of the hash 0, or 0
        self._allocate(capacity)
        self._n = 0

    def _allocate(self, capacity: int) -> None:
        size = 1 << max(capacity - 1, 1).bit_length()
        self._keys = array("q", bytes(8 * size))
        self._lines = array("I", bytes(4 * size))
        self._mask = size - 1
        self._limit = size * 3 // 4

    def __len__(self) -> int:
        return self._n

    def add(self, h: int, line: int) -> int:
        """Add hash ``h`` first seen at ``line``; return the earlier line if already seen, else 0."""
        if h == 0:
            if self._zero:
                return self._zero
            self._zero = line
            self._n += 1
            return 0
        keys = self._keys
        mask = self._mask
        i = h & mask
        k = keys[i]
        while k:
            if k == h:
                return self._lines[i]
            i = (i + 1) & mask
            k = keys[i]
        keys[i] = h
        self._lines[i] = line
        self._n += 1
        if self._n > self._limit:
            self._grow()
        return 0

    def get(self, h: int) -> int:
        """The line ``h`` was first seen at, or 0."""
        if h == 0:
            return self._zero
        keys = self._keys
        i = h & self._mask
        while keys[i]:
            if keys[i] == h:
                return self._lines[i]
            i = (i + 1) & self._mask
        return 0

    def _grow(self) -> None:
        keys, lines = self._keys, self._lines
        self._allocate(len(keys) * 2)
        n, self._n = self._n, 0
        for h, line in zip(keys, lines, strict=True):
            if h:
                self.add(h, line)
        self._n = n
