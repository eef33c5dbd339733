from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataprep.prepare.packing import (
    pack_best_fit_decreasing,
    packing_efficiency,
    row_lengths,
    unpacked_plan,
)


def check_plan(lengths, plan, capacity):
    """Every document exactly once, no row over capacity."""
    assert sorted(plan.doc_order.tolist()) == list(range(len(lengths)))
    assert (row_lengths(lengths, plan) <= capacity).all()
    assert plan.row_starts[0] == 0 and plan.row_starts[-1] == len(lengths)
    assert (np.diff(plan.row_starts) >= 1).all()


@pytest.mark.parametrize(
    ("lengths", "capacity", "rows"),
    [
        ([], 8, []),
        ([8], 8, [[0]]),
        ([5, 3, 4, 2, 1], 6, [[0, 4], [2, 3], [1]]),
        # Ties in length keep their original order; equal free space fills the older row.
        ([2, 2, 2, 2], 4, [[0, 1], [2, 3]]),
        ([3, 3, 1, 1], 4, [[0, 2], [1, 3]]),
        # Best fit, not first fit: the 2 goes to the row with 2 free, not the one with 3.
        ([5, 6, 2], 8, [[1, 2], [0]]),
        ([1, 1, 1, 1, 1], 2, [[0, 1], [2, 3], [4]]),
    ],
)
def test_best_fit_decreasing_places(lengths, capacity, rows):
    plan = pack_best_fit_decreasing(lengths, capacity)
    assert plan.rows() == rows
    check_plan(lengths, plan, capacity)


@pytest.mark.parametrize(("lengths", "capacity"), [([0, 3], 4), ([5], 4), ([-1], 4)])
def test_refuses_lengths_it_cannot_place(lengths, capacity):
    with pytest.raises(ValueError, match="every length"):
        pack_best_fit_decreasing(lengths, capacity)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 64), max_size=300), st.integers(64, 200))
def test_any_lengths_give_a_valid_deterministic_plan(lengths, capacity):
    plan = pack_best_fit_decreasing(lengths, capacity)
    check_plan(lengths, plan, capacity)
    again = pack_best_fit_decreasing(lengths, capacity)
    assert plan.rows() == again.rows()
    # BFD never needs more than 11/9 OPT + 1 rows; OPT >= total / capacity.
    assert plan.num_rows <= 11 / 9 * (sum(lengths) / capacity) + 2


def chat_like_lengths(n=20_000, seed=0, capacity=4096):
    rng = np.random.default_rng(seed)
    lengths = rng.lognormal(mean=np.log(500), sigma=0.8, size=n).astype(np.int64)
    return np.clip(lengths, 16, capacity)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chat_like_distribution_packs_above_99_5_percent(seed):
    lengths = chat_like_lengths(seed=seed)
    assert 400 < np.median(lengths) < 600 and lengths.max() == 4096
    # How long packing 20k documents takes, ``benchmarks/bench_timings.py`` measures.
    plan = pack_best_fit_decreasing(lengths, 4096)
    check_plan(lengths, plan, 4096)
    assert packing_efficiency(lengths, plan, 4096) >= 0.995


def test_unpacked_plan_is_one_document_per_row_in_order():
    plan = unpacked_plan(3)
    assert plan.rows() == [[0], [1], [2]]
    assert packing_efficiency([2, 4, 4], plan, 4) == pytest.approx(10 / 12)


def test_row_lengths_sum_the_documents_of_each_row():
    lengths = [5, 3, 4, 2, 1]
    plan = pack_best_fit_decreasing(lengths, 6)
    assert row_lengths(lengths, plan).tolist() == [sum(lengths[d] for d in r) for r in plan.rows()]
