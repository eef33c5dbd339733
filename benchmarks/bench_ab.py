"""CPU seconds of fresh ``dataprep`` processes, two or more checkouts alternated.

On a shared machine, wall-clock ratios between runs swing by more than a change costs;
the CPU seconds of a fresh process, alternated between checkouts and taken as medians,
hold still enough to compare versions of the same command. Each checkout runs its own
code (``PYTHONPATH=<checkout>``; a checkout of an older commit needs
``dataprep/schemas`` linked to its ``schemas/`` when the package is installed editable
elsewhere).

    python benchmarks/bench_ab.py FILE before=/tmp/before now=. --rounds 7
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys


def cpu_seconds(args: list[str], root: str) -> float:
    env = dict(os.environ, PYTHONPATH=root, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    # Bytecode cached, as an installed package has it: with PYTHONDONTWRITEBYTECODE set
    # (as on our machines) every process compiles every module again, which costs more
    # than a whole small run and grows with the size of the source, not of the work.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "dataprep", *args], cwd=root, env=env,
                   capture_output=True, check=False)  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="a messages JSONL (bench_core.py writes one)")
    parser.add_argument("sides", nargs="+", metavar="NAME=CHECKOUT")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default="/tmp/bench_ab.jsonl", help="convert's output")
    args = parser.parse_args()
    sides = dict(s.split("=", 1) for s in args.sides)
    commands = {
        "validate --jobs 1": ["validate", args.file, "--jobs", "1"],
        "convert --jobs 1": ["convert", args.file, "--to", "sharegpt", "--allow-lossy",
                             "--jobs", "1", "-o", args.out],
    }  # fmt: skip
    first = next(iter(sides))
    for name, command in commands.items():
        for root in sides.values():  # compiles and caches the bytecode
            cpu_seconds(command, os.path.abspath(root))
        got: dict[str, list[float]] = {s: [] for s in sides}
        for _ in range(args.rounds):
            for side, root in sides.items():
                got[side].append(cpu_seconds(command, os.path.abspath(root)))
        medians = {s: statistics.median(v) for s, v in got.items()}
        shown = ", ".join(f"{s} {m:.3f} s ({m / medians[first]:.3f}x)" for s, m in medians.items())
        print(f"{name}: {shown}; CPU medians of {args.rounds}", flush=True)


if __name__ == "__main__":
    main()
