"""The rows a file has already shown, for the ``duplicate-row`` warning: the plain reference.

A row is a duplicate when the hash of its bytes was seen before; the warning names the
line it was first seen at. ``FirstLines`` says so with a dict. ``validate`` uses
``dataprep._fast.seen.SeenRows`` instead, which does the same in a fifth of the memory
and must answer what ``FirstLines`` answers (``tests/dataprep/_fast/test_seen.py``).

>>> seen = FirstLines()
>>> seen.add(hash(b"a"), 1), seen.add(hash(b"b"), 2), seen.add(hash(b"a"), 3)
(0, 0, 1)
"""

from __future__ import annotations


class FirstLines:
    """Row hash -> the line it was first seen at."""

    def __init__(self) -> None:
        self._first: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._first)

    def add(self, h: int, line: int) -> int:
        """Add hash ``h`` seen at ``line``; return the earlier line if already seen, else 0."""
        if h in self._first:
            return self._first[h]
        self._first[h] = line
        return 0

    def get(self, h: int) -> int:
        """The line ``h`` was first seen at, or 0."""
        return self._first.get(h, 0)
