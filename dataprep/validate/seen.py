"""The rows a file has already shown, for the ``duplicate-row`` warning.

Apart from ``validate``: it is a data structure, not a check, and a parallel run uses it
once more, in the parent, to find duplicates across the parts its workers checked.
"""

from __future__ import annotations

from array import array


class SeenRows:
    """A set of 64-bit row hashes, each with the line it was first seen at.

    Open addressing in two flat arrays, 12 bytes a slot, between 3/8 and 3/4 full: 16 to
    32 bytes a row, where a Python ``set`` of ints would take over 60 (and a dict of
    lines over 100).

    >>> seen = SeenRows()
    >>> seen.add(hash(b"a"), 1), seen.add(hash(b"b"), 2), seen.add(hash(b"a"), 3)
    (0, 0, 1)
    """

    def __init__(self, capacity: int = 1 << 16):
        size = 1 << max(capacity - 1, 1).bit_length()
        self._keys = array("q", bytes(8 * size))
        self._lines = array("I", bytes(4 * size))
        self._mask = size - 1
        self._limit = size * 3 // 4
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def add(self, h: int, line: int) -> int:
        """Add hash ``h`` first seen at ``line``; return the earlier line if already seen, else 0."""
        if h == 0:  # 0 marks an empty slot
            h = 1
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
            h = 1
        keys = self._keys
        i = h & self._mask
        while keys[i]:
            if keys[i] == h:
                return self._lines[i]
            i = (i + 1) & self._mask
        return 0

    def _grow(self) -> None:
        keys, lines = self._keys, self._lines
        self.__init__(len(keys) * 2)
        for h, line in zip(keys, lines, strict=True):
            if h:
                self.add(h, line)
