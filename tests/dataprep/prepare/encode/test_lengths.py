from __future__ import annotations

import numpy as np
import pytest

from dataprep.errors import RowError
from dataprep.prepare.encode.lengths import IGNORE, count_trained, fit_dpo, fit_sft


def example(n, trained):
    """ids 0..n-1; positions in ``trained`` carry their id as label, others -100."""
    ids = np.arange(n, dtype=np.int32)
    labels = np.full(n, IGNORE, dtype=np.int32)
    for i in trained:
        labels[i] = ids[i]
    return ids, labels


@pytest.mark.parametrize(
    ("labels", "count"),
    [([IGNORE, 1, 2], 2), ([5, IGNORE, IGNORE], 0), ([IGNORE], 0), ([], 0), ([1, 2], 1)],
)
def test_count_trained_ignores_the_first_label(labels, count):
    assert count_trained(np.array(labels, dtype=np.int32)) == count


@pytest.mark.parametrize(
    ("n", "trained", "max_length", "policy", "pieces", "truncated", "split"),
    [
        (6, [4, 5], 8, "drop", [[0, 1, 2, 3, 4, 5]], False, False),
        (6, [4, 5], 6, "drop", [[0, 1, 2, 3, 4, 5]], False, False),
        (10, [3, 9], 6, "truncate", [[0, 1, 2, 3, 4, 5]], True, False),
        (10, [3, 9], 4, "split", [[0, 1, 2, 3], [8, 9]], True, True),
        (10, [1, 5, 9], 4, "split", [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], False, True),
        # A piece whose only trained label is its first is not kept: nothing predicts it.
        (8, [2, 4], 4, "split", [[0, 1, 2, 3]], True, True),
    ],
)
def test_fit_sft_keeps(n, trained, max_length, policy, pieces, truncated, split):
    ids, labels = example(n, trained)
    fitted = fit_sft(ids, labels, max_length, policy)
    assert [p[0].tolist() for p in fitted.pieces] == pieces
    for piece_ids, piece_labels in fitted.pieces:
        # labels stay aligned with their tokens
        kept = piece_labels != IGNORE
        assert (piece_labels[kept] == piece_ids[kept]).all()
        assert len(piece_ids) == len(piece_labels) <= max_length
    assert fitted.truncated is truncated
    assert fitted.split is split


@pytest.mark.parametrize(
    ("n", "trained", "max_length", "policy", "code", "message"),
    [
        (10, [9], 6, "drop", "too-long", "10 tokens, longer than --max-length 6"),
        (6, [0], 8, "drop", "no-trained-token", "no trained token"),
        (6, [], 8, "split", "no-trained-token", "no trained token"),
        (10, [8, 9], 6, "truncate", "no-trained-token", "after truncating 10 tokens to 6"),
        (10, [0, 4, 8], 4, "split", "no-trained-token", "no piece of 4 tokens"),
    ],
)
def test_fit_sft_rejects(n, trained, max_length, policy, code, message):
    ids, labels = example(n, trained)
    with pytest.raises(RowError, match=message) as info:
        fit_sft(ids, labels, max_length, policy)
    assert info.value.code == code


def arr(*values):
    return np.array(values, dtype=np.int32)


@pytest.mark.parametrize(
    ("prompt", "chosen", "rejected", "max_length", "expected"),
    [
        ((1, 2), (3,), (4, 5), 8, ((1, 2), (3,), (4, 5))),
        # The prompt keeps its end; the answers are cut at their end.
        ((1, 2, 3, 4, 5, 6), (7, 8), (9,), 6, ((3, 4, 5, 6), (7, 8), (9,))),
        ((1, 2), (3, 4, 5, 6, 7), (8,), 4, ((1, 2), (3, 4), (8,))),
        (
            (1, 2, 3, 4, 5, 6, 7, 8),
            (9, 10, 11, 12, 13, 14),
            (15,),
            8,
            ((5, 6, 7, 8), (9, 10, 11, 12), (15,)),
        ),
    ],
)
def test_fit_dpo_truncate(prompt, chosen, rejected, max_length, expected):
    fitted = fit_dpo(arr(*prompt), arr(*chosen), arr(*rejected), max_length, "truncate")
    got = (fitted.prompt_ids.tolist(), fitted.chosen_ids.tolist(), fitted.rejected_ids.tolist())
    assert got == tuple(list(e) for e in expected)
    assert (
        len(fitted.prompt_ids) + max(len(fitted.chosen_ids), len(fitted.rejected_ids)) <= max_length
    )


@pytest.mark.parametrize(
    ("prompt", "chosen", "rejected", "policy", "code"),
    [
        ((1, 2), (3, 4, 5), (6,), "drop", "too-long"),
        ((1,), (), (2,), "drop", "empty-completion"),
        ((1,), (2,), (), "truncate", "empty-completion"),
    ],
)
def test_fit_dpo_rejects(prompt, chosen, rejected, policy, code):
    with pytest.raises(RowError) as info:
        fit_dpo(arr(*prompt), arr(*chosen), arr(*rejected), 4, policy)
    assert info.value.code == code
