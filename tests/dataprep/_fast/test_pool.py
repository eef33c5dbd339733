"""dataprep._fast.pool.run_ordered against its reference, the plain loop in this process:
the same calls to ``collect``, in the same order, whatever the number of processes and
tasks in flight; and a worker's error reaches the caller."""

from __future__ import annotations

import doctest
import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dataprep._fast.pool
from dataprep._fast.pool import run_ordered


def _work(salt: int, key: int, task: list[int]) -> tuple[int, int]:
    if salt < 0 and key == 3:
        raise ValueError(f"task {key} failed")
    return key * salt, sum(task) + len(task)


def _setup(salt: int):
    return functools.partial(_work, salt)


def _reference(setup, tasks, payload):
    work, out = setup(), []
    for key, task in tasks:
        out.append((key, task, work(key, payload(task))))
    return out


@settings(max_examples=12, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5), max_size=25),
    num_proc=st.integers(1, 3),
    in_flight=st.integers(1, 4),
    salt=st.integers(0, 9),
)
def test_results_come_back_as_the_plain_loop_gives_them(sizes, num_proc, in_flight, salt):
    tasks = [(key, list(range(n))) for key, n in enumerate(sizes)]
    payload = lambda task: task[::-1]  # noqa: E731
    got: list = []
    run_ordered(
        num_proc, functools.partial(_setup, salt), tasks,
        lambda key, task, result: got.append((key, task, result)),
        payload=payload, in_flight=in_flight,
    )  # fmt: skip
    assert got == _reference(functools.partial(_setup, salt), tasks, payload)


def test_a_worker_error_is_raised_in_the_caller():
    tasks = [(key, [key]) for key in range(8)]
    with pytest.raises(ValueError, match="task 3 failed"):
        run_ordered(2, functools.partial(_setup, -1), tasks, lambda *a: None)


def test_doctests():
    assert doctest.testmod(dataprep._fast.pool).failed == 0
