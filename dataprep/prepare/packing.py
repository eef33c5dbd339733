"""Best-fit-decreasing packing of whole documents into rows of at most ``capacity`` tokens.

Over the whole dataset at once, not in windows: documents are taken longest first and each
goes into the fullest row that still has room for it. Documents are never split here (the
length policy may have cut them into pieces earlier); the lengths of the documents in a row
are kept (``seq_lengths``) so attention never crosses them.

>>> plan = pack_best_fit_decreasing([5, 3, 4, 2, 1], capacity=6)
>>> plan.rows()
[[0, 4], [2, 3], [1]]
>>> packing_efficiency([5, 3, 4, 2, 1], plan, capacity=6)
0.8333333333333334
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from dataclasses import dataclass
from itertools import chain

import numpy as np


@dataclass(frozen=True)
class PackPlan:
    """Which documents go into which row.

    Row ``r`` holds the documents ``doc_order[row_starts[r]:row_starts[r + 1]]``, in that
    order. Flat arrays rather than a list of lists: a million documents stay cheap.
    """

    doc_order: np.ndarray  # int64, every document index exactly once
    row_starts: np.ndarray  # int64, len(rows) + 1, row_starts[0] == 0

    @property
    def num_rows(self) -> int:
        return len(self.row_starts) - 1

    def rows(self) -> list[list[int]]:
        """The plan as a list of lists of document indices (for tests and small data)."""
        return [
            self.doc_order[a:b].tolist()
            for a, b in zip(self.row_starts[:-1], self.row_starts[1:], strict=True)
        ]


def pack_best_fit_decreasing(lengths: np.ndarray | list[int], capacity: int) -> PackPlan:
    """Pack documents of the given lengths into as few rows of ``capacity`` tokens as BFD finds.

    Deterministic: documents of equal length are placed in their original order, and among
    rows with the same free space the one opened first is filled first. The open rows are
    kept as a sorted list of *distinct* free-space values (at most ``capacity`` of them, found
    with bisect) each with a heap of row ids, so a placement costs O(log capacity) whatever
    the number of rows.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1:
        raise ValueError("lengths must be one-dimensional")
    if len(lengths) and (lengths.min() <= 0 or lengths.max() > capacity):
        raise ValueError(f"every length must be in 1..{capacity}")
    order = np.argsort(-lengths, kind="stable")
    free_values: list[int] = []  # sorted, distinct free space of the open rows
    rows_by_free: dict[int, list[int]] = {}  # free space -> heap of row ids with it
    row_docs: list[list[int]] = []
    for doc, length in zip(order.tolist(), lengths[order].tolist(), strict=True):
        i = bisect_left(free_values, length)
        if i == len(free_values):
            row = len(row_docs)
            row_docs.append([doc])
            free = capacity - length
        else:
            free = free_values[i]
            heap = rows_by_free[free]
            row = heapq.heappop(heap)
            if not heap:
                del rows_by_free[free]
                del free_values[i]
            row_docs[row].append(doc)
            free -= length
        if free:
            heap = rows_by_free.get(free)
            if heap is None:
                rows_by_free[free] = [row]
                insort(free_values, free)
            else:
                heapq.heappush(heap, row)
    sizes = np.fromiter((len(r) for r in row_docs), dtype=np.int64, count=len(row_docs))
    row_starts = np.zeros(len(row_docs) + 1, dtype=np.int64)
    np.cumsum(sizes, out=row_starts[1:])
    doc_order = np.fromiter(chain.from_iterable(row_docs), dtype=np.int64, count=len(lengths))
    return PackPlan(doc_order=doc_order, row_starts=row_starts)


def unpacked_plan(num_docs: int) -> PackPlan:
    """One document per row, in order: the plan for ``--no-pack``."""
    return PackPlan(
        doc_order=np.arange(num_docs, dtype=np.int64),
        row_starts=np.arange(num_docs + 1, dtype=np.int64),
    )


def packing_efficiency(lengths: np.ndarray | list[int], plan: PackPlan, capacity: int) -> float:
    """Tokens / (rows x capacity): 1.0 means no padding would ever be needed."""
    if plan.num_rows == 0:
        return 0.0
    return float(np.asarray(lengths, dtype=np.int64).sum()) / (plan.num_rows * capacity)


def row_lengths(lengths: np.ndarray | list[int], plan: PackPlan) -> np.ndarray:
    """The token count of each row of the plan."""
    ordered = np.asarray(lengths, dtype=np.int64)[plan.doc_order]
    sums = np.zeros(len(ordered) + 1, dtype=np.int64)
    np.cumsum(ordered, out=sums[1:])
    return sums[plan.row_starts[1:]] - sums[plan.row_starts[:-1]]
