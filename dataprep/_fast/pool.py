"""A process pool that runs one function over a stream of tasks and hands the results
back in input order, with a bounded number in flight.

``prepare --num-proc N`` uses it (``dataprep.prepare.encode.workers.run_pool``). The
reference it must equal is the plain loop in this process::

    work = setup()
    for key, task in tasks:
        collect(key, task, work(key, task))

``tests/dataprep/_fast/test_pool.py`` holds ``run_ordered`` equal to that loop on
generated tasks (same calls to ``collect``, in the same order).

What it does for speed: workers are forked where the platform can (they share the
parent's imports and objects, so ``setup`` may pick up what the parent loaded), the
parent's objects are frozen out of the garbage collector first (a collection in a worker
would touch, and so copy, all of them), and at most ``in_flight`` tasks per worker wait
at once (enough that a worker never waits for the parent to read, few enough that memory
stays flat whatever the input size). Workers ignore Ctrl-C (the parent stops the pool and
cleans up) and die with the parent.

>>> import operator
>>> out = []
>>> setup = lambda: operator.mul  # forked workers: setup need not pickle here
>>> run_ordered(2, setup, [(k, k) for k in range(5)], lambda k, t, r: out.append(r))
>>> out
[0, 1, 4, 9, 16]
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from dataprep._fast.parallel import die_with_parent

Work = Callable[[Any, Any], Any]  # (key, task) -> result

# The work of this worker process, made once by ``setup`` when the process starts.
_WORK: Work | None = None


def _init(setup: Callable[[], Work], parent: int) -> None:
    global _WORK
    # Ctrl-C is the main process's business: it stops the pool and cleans up. A main
    # process killed outright takes its workers with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    _WORK = setup()


def _call(key: Any, task: Any) -> Any:
    if _WORK is None:
        raise RuntimeError("a pool task ran in a process the pool did not set up")
    return _WORK(key, task)


def run_ordered(
    num_proc: int,
    setup: Callable[[], Work],
    tasks: Iterable[tuple[Any, Any]],
    collect: Callable[[Any, Any, Any], None],
    *,
    payload: Callable[[Any], Any] | None = None,
    in_flight: int = 4,
) -> None:
    """Run ``setup()(key, payload(task))`` for every ``(key, task)`` in ``num_proc`` worker
    processes; call ``collect(key, task, result)`` in the order of ``tasks``.

    ``setup`` runs once in each worker (pickled where processes are spawned, so a
    module-level function or a ``functools.partial`` of one). ``payload`` is what of a
    task is sent to the worker (default: all of it). A worker's exception is raised here.
    """
    methods = multiprocessing.get_all_start_methods()
    # fork shares the imported modules (fast start); spawn where fork does not exist.
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    send = payload if payload is not None else (lambda task: task)
    pending: deque[tuple[Any, Any, Any]] = deque()
    gc.freeze()  # frozen objects are never traversed: no copy-on-write by the collector
    try:
        with context.Pool(num_proc, initializer=_init, initargs=(setup, os.getpid())) as pool:
            for key, task in tasks:
                pending.append((key, task, pool.apply_async(_call, (key, send(task)))))
                while len(pending) >= in_flight * num_proc:
                    key, task, future = pending.popleft()
                    collect(key, task, future.get())
            while pending:
                key, task, future = pending.popleft()
                collect(key, task, future.get())
    finally:
        gc.unfreeze()
