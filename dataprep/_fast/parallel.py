"""Running work in forked processes over byte ranges of a large JSON Lines file.

``validate`` and ``convert`` share this: ``parallel_workers`` says how many processes a
file is worth, ``split_jsonl`` cuts it into byte ranges at line ends (each range read
with ``dataprep.reading.read_jsonl_chunk``), and ``Forked`` / ``forked_all`` run one
function per range in a forked child and gather what they return.

>>> count_workers(4, 0.0, 1)
4
>>> Forked(sum, [1, 2, 3]).result()
6
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dataprep.errors import DataprepError

if TYPE_CHECKING:
    from dataprep.reading import JsonlChunk

# Below this a file is checked in one process: starting a worker costs more than it saves.
PARALLEL_MIN_BYTES = 16 * 1024 * 1024


def parallel_workers(path: str, jobs: int | None = None, *, share_busy: bool = True) -> int:
    """How many processes to give ``path``: 1 unless it is a plain UTF-8 JSONL file of
    at least ``PARALLEL_MIN_BYTES`` (the only kind that splits into byte ranges); then
    ``jobs``, or as many as the load allows (``default_workers``, at most 8)."""
    if jobs == 1 or path == "-" or not hasattr(os, "fork"):
        return 1
    try:
        if os.path.getsize(path) < PARALLEL_MIN_BYTES:
            return 1
        from dataprep.reading import sniff_input

        info = sniff_input(path)
    except (OSError, DataprepError):
        return 1
    if info.kind != "jsonl" or info.compression or info.encoding != "utf-8":
        return 1
    return jobs or min(default_workers(share_busy=share_busy), 8)


def usable_cpus() -> int:
    """The CPUs this process may run on (a container's or ``taskset``'s share, where the
    system says; else all of the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers(*, share_busy: bool = True) -> int:
    """Processes worth starting now, from this machine's CPUs and load (see
    ``count_workers``)."""
    cpus = usable_cpus()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        running = None
    return count_workers(cpus or 1, load, running, share_busy=share_busy)


def count_workers(
    cpus: int, load: float | None, running: int | None, *, share_busy: bool = True
) -> int:
    """One process per idle CPU, and (``share_busy``) one more to share a busy one; at
    least 1.

    The ranges are fixed in advance, so the run waits for its slowest process. A
    process that shares a CPU with other work still gets a share of it. validate: with
    one CPU of two busy, two processes took 0.37 s against 0.51 s for one on the
    benchmark file; with both busy (a load of 3), 0.83 s against 0.66 s. convert, whose
    workers' output is copied again by the parent, gained nothing on a shared CPU (0.85
    s against 0.78 s): it asks for idle CPUs only. Busy CPUs are the smaller of the
    1-minute load average (which lags a change of load) and the tasks running right now
    but this one (Linux's /proc/loadavg; a snapshot catches passing blips).

    >>> count_workers(8, 0.3, 1), count_workers(2, 1.0, 2), count_workers(2, 2.9, 3)
    (8, 2, 1)
    >>> count_workers(2, 1.0, 2, share_busy=False)
    1
    """
    busy = [b for b in (load, None if running is None else running - 1) if b is not None]
    idle = max(0, int(cpus - min(busy, default=0)))
    return max(1, min(cpus, idle + share_busy))


def split_jsonl(path: str, n: int) -> list[JsonlChunk]:
    """About ``n`` byte ranges of a plain UTF-8 JSON Lines file, for worker processes.

    Lines are numbered from 1 within each range, so that no range waits for the lines
    before it to be counted (a pass over the file that costs as much as a quarter of the
    checks). Every range but the last ends with a line that is not blank, and a line
    that is not blank always gives a record (a row, or a problem): the last record of a
    range carries its number of lines, and the lines of a range become the file's by
    adding those of the ranges before it.

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.jsonl")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"".join(b'{"i": %d}\\n' % i for i in range(100)))
    >>> [(c.start, c.end, c.first_line) for c in split_jsonl(path, 3)]
    [(0, 340, 1), (340, 670, 1), (670, 990, 1)]
    """
    from dataprep.reading import JsonlChunk, sniff_input

    start = 3 if sniff_input(path).bom else 0
    size = os.path.getsize(path)
    chunks = []
    with open(path, "rb") as f:
        for i in range(1, n + 1):
            end = size if i == n else _end_of_line(f, max(start, size * i // n), size)
            if end > start:
                chunks.append(JsonlChunk(path, start, end, 1))
                start = end
            if end >= size:
                break
    return chunks


def _end_of_line(f: Any, offset: int, size: int) -> int:
    """The offset just past the first newline at or after ``offset`` that ends a line
    which is not blank (or ``size``)."""
    f.seek(offset)
    position = offset
    filled = False  # the line read so far holds more than whitespace
    while True:
        block = f.read(1 << 16)
        if not block:
            return size
        i = 0
        while True:
            j = block.find(b"\n", i)
            if j < 0:
                filled = filled or bool(block[i:].strip())
                break
            if filled or block[i:j].strip():
                return position + j + 1
            i = j + 1
        position += len(block)


class Forked:
    """``fn(*args)`` run in a forked child process; ``result()`` waits for what it returned.

    Lighter than a process pool (whose imports and start cost about 25 ms, a tenth of a
    parallel run here): one ``fork`` and one pipe per call. The child shares the
    parent's imports and hash seed, returns its value pickled through the pipe, and
    leaves by ``os._exit``, never running the parent's code after the fork. An
    exception in the child is raised again by ``result()``; a child that died gives a
    DataprepError. Fork before starting threads or opening outputs.

    >>> Forked(pow, 2, 10).result()
    1024
    """

    def __init__(self, fn: Callable[..., Any], *args: Any):
        import pickle

        read_end, write_end = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child
            status = 1
            try:
                die_with_parent(parent)
                os.close(read_end)
                try:
                    payload = pickle.dumps((True, fn(*args)), pickle.HIGHEST_PROTOCOL)
                    status = 0
                except BaseException as e:  # Ctrl-C included: the parent decides
                    try:
                        payload = pickle.dumps((False, e), pickle.HIGHEST_PROTOCOL)
                        pickle.loads(payload)  # some exceptions pickle but cannot unpickle
                    except Exception:
                        payload = pickle.dumps((False, DataprepError(f"in a worker: {e!r}")))
                with open(write_end, "wb") as pipe:
                    pipe.write(payload)
            finally:
                os._exit(status)
        os.close(write_end)
        self.pid: int | None = pid
        self._pipe = read_end

    def result(self) -> Any:
        import pickle

        with open(self._pipe, "rb") as pipe:
            payload = pipe.read()
        self._reap()
        if not payload:
            raise DataprepError("a worker process died before it finished (out of memory?)")
        try:
            ok, value = pickle.loads(payload)
        except Exception as e:  # a result that pickles but cannot unpickle
            raise DataprepError(f"a worker's result could not be read back ({e!r})") from None
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child if it still runs (the parent failed or was interrupted)."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.close(self._pipe)
            self._reap()

    def _reap(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = None


def die_with_parent(parent: int) -> None:
    """Make this (forked) process end when ``parent`` does, even by ``kill -9``: a worker
    must not run on, writing spools, after the run it works for is gone.

    Linux kills it for us (``prctl(PR_SET_PDEATHSIG, SIGKILL)``, asked through ctypes);
    elsewhere a daemon thread checks the parent once a second. Call it first thing in
    the child; a parent that died before the call is caught by the ``getppid`` check.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            _watch_parent(parent)
    else:
        _watch_parent(parent)
    if os.getppid() != parent:
        os._exit(1)


def _watch_parent(parent: int) -> None:
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="dataprep-parent-watch", daemon=True).start()


@contextlib.contextmanager
def forked_all() -> Iterator[list[Forked]]:
    """A list to put ``Forked`` calls in; any still running when the block is left by an
    exception (Ctrl-C included) are stopped, so no worker outlives its parent's run."""
    calls: list[Forked] = []
    try:
        yield calls
    except BaseException:
        for call in calls:
            call.cancel()
        raise
