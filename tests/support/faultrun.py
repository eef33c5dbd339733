"""The fault suite's harness (tests/faults): every command line runs in a child process
under a memory limit (RLIMIT_AS) and a time limit, and every run is counted.

``run(...)`` returns a ``Run`` (exit code, the two streams, peak memory). What a user
must never see is checked on every run (``Run.check_clean``): a Python traceback, or the
exit code 3 of an internal error. At the end of the session the counts go to
``$DATAPREP_FAULTS_REPORT`` (default: ``dataprep-faults-report.json`` in the temporary
folder), which ``benchmarks/bench_faults.py`` prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ZYGOTE = REPO / "tests" / "faults" / "zygote.py"
SAMPLES = REPO / "samples"
TOKENIZER = SAMPLES / "tiny-tokenizer"
# Address space a run may add to what the runner has mapped (Python, torch, pyarrow).
MEMORY = 3 << 30
TIMEOUT = 120.0


@dataclass
class Run:
    args: list[str]
    code: int | None  # None when killed by a signal
    signal: int | None
    out: str
    err: str
    maxrss_mb: float
    seconds: float

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.err or self.code in (3, 98, 99)

    def check_clean(self, *codes: int) -> Run:
        """The run ended with one of ``codes``, with no traceback, and an error run says
        ``error:`` (or click's ``Error:``) on stderr."""
        assert not self.traceback, f"{self.args}: exit {self.code}\n{self.err}"
        assert self.code in codes, f"{self.args}: exit {self.code}, not {codes}\n{self.err}"
        if self.code in (1, 2) and "rejected" not in self.err:
            assert "error:" in self.err.lower(), f"{self.args}: no message\n{self.err}"
        return self


@dataclass
class Tally:
    runs: int = 0
    clean_errors: int = 0  # runs that ended 1 or 2 with a message
    tracebacks: int = 0
    timeouts: int = 0
    kill_attempts: int = 0  # kill -9 sent at a random point (the run may have ended first)
    kills: int = 0  # runs killed with SIGKILL on purpose, mid-run
    kills_survived: int = 0  # of those, the output was whole or absent and a re-run passed
    peak_rss_mb: float = 0.0
    limited_calls: int = 0  # functions run by ``in_child`` under the same kind of limits
    by_test: dict[str, int] = field(default_factory=dict)

    def add(self, run: Run, test: str) -> None:
        self.runs += 1
        self.by_test[test] = self.by_test.get(test, 0) + 1
        self.tracebacks += run.traceback
        self.clean_errors += run.code in (1, 2) and not run.traceback
        self.peak_rss_mb = max(self.peak_rss_mb, run.maxrss_mb)


TALLY = Tally()


class Runner:
    """The zygote process (``zygote.py``) and the runs it forks."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
        env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        self.proc = subprocess.Popen(
            [sys.executable, str(ZYGOTE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        self._count = 0

    def _read(self, timeout: float) -> dict[str, Any] | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        assert line, "the fault runner died"
        return json.loads(line)

    def start(
        self,
        args: list[str],
        *,
        cwd: Path | None = None,
        stdin: str | None = None,
        stdout: str | None = None,
        fsize: int | None = None,
        env: dict[str, str] | None = None,
    ) -> Started:
        self._count += 1
        out = stdout or str(self.workdir / f"run{self._count}.out")
        err = str(self.workdir / f"run{self._count}.err")
        request = {
            "args": args,
            "cwd": str(cwd or self.workdir),
            "stdin": stdin,
            "stdout": out,
            "stderr": err,
            "memory": MEMORY,
            "fsize": fsize,
            "env": {
                "TMPDIR": str(self.workdir / "tmp"),
                "XDG_CACHE_HOME": str(self.workdir / "cache"),
                **(env or {}),
            },
        }
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        started = self._read(60)
        assert started is not None, "the fault runner did not start a run"

        return Started(self, args, started["pid"], out, err, time.monotonic())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


@dataclass
class Started:
    runner: Runner
    args: list[str]
    pid: int
    out: str
    err: str
    t0: float

    def wait(self, timeout: float = TIMEOUT) -> Run:
        done = self.runner._read(timeout)
        if done is None:  # the time limit: kill it, and count it
            TALLY.timeouts += 1
            os.kill(self.pid, signal.SIGKILL)
            done = self.runner._read(30)
        status = done["status"]
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        read = lambda p: Path(p).read_text(errors="replace") if os.path.isfile(p) else ""  # noqa: E731
        return Run(
            self.args,
            code,
            sig,
            read(self.out),
            read(self.err),
            done["maxrss_kb"] / 1024,
            time.monotonic() - self.t0,
        )


def counted(run: Run, test: str) -> Run:
    TALLY.add(run, test)
    return run


def write_report(tests_failed: int) -> None:
    if not TALLY.runs:
        return
    path = os.environ.get("DATAPREP_FAULTS_REPORT") or os.path.join(
        tempfile.gettempdir(), "dataprep-faults-report.json"
    )
    report = {
        "runs": TALLY.runs,
        "clean_errors": TALLY.clean_errors,
        "tracebacks": TALLY.tracebacks,
        "timeouts": TALLY.timeouts,
        "kill_attempts": TALLY.kill_attempts,
        "kills": TALLY.kills,
        "kills_survived": TALLY.kills_survived,
        "peak_rss_mb": round(TALLY.peak_rss_mb, 1),
        "limited_calls": TALLY.limited_calls,
        "memory_limit_mb": MEMORY >> 20,
        "time_limit_s": TIMEOUT,
        "tests_failed": tests_failed,
        "runs_by_test": TALLY.by_test,
    }
    with contextlib.suppress(OSError):
        Path(path).write_text(json.dumps(report, indent=2) + "\n")


def in_child(fn: Any, *args: Any, memory: int = 1 << 30, timeout: float = 60.0) -> Any:
    """``fn(*args)`` in a forked child under a memory limit (``memory`` more address space
    than the child starts with) and ``timeout`` seconds: what it returns, or the exception
    it raised, raised again here. A child that overruns is killed and fails the test."""
    import pickle

    TALLY.limited_calls += 1
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read_end)
            import resource

            with open("/proc/self/status") as f:
                vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
            resource.setrlimit(resource.RLIMIT_AS, (vm + memory, vm + memory))
            try:
                payload = pickle.dumps((True, fn(*args)))
            except BaseException as e:
                payload = pickle.dumps((False, e))
            with open(write_end, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with open(read_end, "rb") as pipe:
        ready, _, _ = select.select([pipe], [], [], timeout)
        payload = pipe.read() if ready else b""
    if not ready:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert ready, f"{fn.__name__} ran past {timeout} s"
    assert payload, f"{fn.__name__} died (status {status}): out of memory?"
    ok, value = pickle.loads(payload)
    if not ok:
        raise value
    return value
