"""dataprep._fast.seen.SeenRows against its reference, the dict of
dataprep.validate.seen.FirstLines: the same answers to every add and get, in any order,
through the table's growth, for hashes that collide in the table's slots."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dataprep._fast.seen
import dataprep.validate.seen
from dataprep._fast.seen import SeenRows
from dataprep.validate.seen import FirstLines

# Hashes that land in the same slots (multiples of the table sizes), the empty-slot
# marker 0 and its neighbours, the extremes of a 64-bit hash, and any others.
HASHES = st.one_of(
    st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63), 1 << 16, 2 << 16, 3 << 16, 1 << 20]),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 40).map(lambda k: k * 8),
)
LINES = st.integers(1, 2**32 - 1)
OPS = st.lists(st.tuples(st.sampled_from(["add", "get"]), HASHES, LINES), max_size=300)


@settings(max_examples=300, deadline=None)
@given(ops=OPS, capacity=st.integers(1, 64))
def test_seen_rows_answers_as_the_dict(ops, capacity):
    fast, reference = SeenRows(capacity=capacity), FirstLines()
    for op, h, line in ops:
        if op == "add":
            assert fast.add(h, line) == reference.add(h, line), (op, h, line)
        else:
            assert fast.get(h) == reference.get(h), (op, h)
        assert len(fast) == len(reference)


@pytest.mark.parametrize("module", [dataprep._fast.seen, dataprep.validate.seen])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0
