"""The issue-15 figures: run the fault suite (``tests/faults``) and print what it counted.

Every command line of the suite runs in a child process under a memory limit
(RLIMIT_AS) and a time limit; the suite counts the runs, the clean errors (exit 1 or 2
with a message), the tracebacks (must be 0), the timeouts, the ``kill -9`` it made and
survived, and the peak memory of a run. This script runs it with the report going to
``--out`` (``DATAPREP_FAULTS_REPORT``) and prints the table that RELIABILITY.md quotes.

    python benchmarks/bench_faults.py --out faults.json
    python benchmarks/bench_faults.py --report faults.json     # print a saved report
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_suite(out: Path, seed: int | None) -> tuple[int, float]:
    env = dict(os.environ, DATAPREP_FAULTS_REPORT=str(out), PYTHONPATH=str(REPO))
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if seed is not None:
        env["DATAPREP_FAULTS_SEED"] = str(seed)
    started = time.perf_counter()
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults"],
        cwd=REPO,
        env=env,
    )
    return code, time.perf_counter() - started


def table(report: dict, seconds: float | None) -> list[str]:
    rows = [
        ("command lines run", report["runs"]),
        ("clean errors (exit 1 or 2, with a message)", report["clean_errors"]),
        ("tracebacks (must be 0)", report["tracebacks"]),
        ("timeouts", report["timeouts"]),
        ("kill -9 sent at a random point", report.get("kill_attempts", report["kills"])),
        ("  of which landed mid-run (the others: the run had ended)", report["kills"]),
        ("kills survived (output whole or previous, re-run clean)", report["kills_survived"]),
        ("functions run in a limited child (hostile templates)", report.get("limited_calls", 0)),
        ("peak RSS of one run (ru_maxrss, preloaded modules included), MB", report["peak_rss_mb"]),
        ("memory limit per run (address space added), MB", report["memory_limit_mb"]),
        ("time limit per run, s", report["time_limit_s"]),
        ("failed tests", report["tests_failed"]),
    ]
    if seconds is not None:
        rows.append(("suite wall time, s", round(seconds, 1)))
    width = max(len(name) for name, _ in rows)
    return [f"| {'what'.ljust(width)} | count |", f"|{'-' * (width + 2)}|------:|"] + [
        f"| {name.ljust(width)} | {value} |" for name, value in rows
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where the suite writes its counts (JSON)")
    parser.add_argument("--report", type=Path, help="print a saved report; run nothing")
    parser.add_argument("--seed", type=int, help="DATAPREP_FAULTS_SEED: the kill points")
    args = parser.parse_args()
    seconds = None
    code = 0
    path = args.report
    if path is None:
        path = args.out or Path(tempfile.mkdtemp()) / "faults.json"
        code, seconds = run_suite(path, args.seed)
    report = json.loads(path.read_text())
    print("\n".join(table(report, seconds)))
    return code


if __name__ == "__main__":
    sys.exit(main())
