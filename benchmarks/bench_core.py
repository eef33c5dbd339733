"""The issue-2 benchmark: reading, validating and converting a large messages JSONL.

In one run, on a generated (seeded) messages file of ``--size-mb`` MB:

1. plain parsing: ``orjson.loads`` on every line (the speed of light);
2. ``orjson`` + ``jsonschema``: ``Draft202012Validator.iter_errors`` per row with the
   shipped messages schema (on the first ``--jsonschema-rows`` rows, extrapolated per
   row: over the whole file it takes minutes);
3. ``dataprep validate FILE``: the CLI in a subprocess, end to end (start-up included),
   with its default processes (as the load allows), ``--jobs 1`` and ``--jobs 2``;
4. ``dataprep convert FILE --to sharegpt --allow-lossy``: the CLI, end to end, output
   to a temporary folder (``--allow-lossy`` so that every row is converted and written:
   ShareGPT has no place for tool call ids), the same three ways;
5. the streaming memory check: ``dataprep validate`` over a ``--rss-check-gb`` GB file
   made by repeating the generated content, whose peak RSS must stay under 300 MB.

Each stage runs in its own process; rows/s, MB/s and peak RSS are reported for each
(peak RSS: the largest single process of the stage, from its VmHWM; and the sum over
the stage's process tree, sampled every 50 ms), then the ratios against the targets:

    validate >= 5x orjson+jsonschema,  validate >= 0.5x plain,  convert >= 0.3x plain

Stages 1, 3 and 4 run ``--repeat`` times, round after round (so that a change of load
hits every stage alike), and each figure is the median over the rounds. The load
average is recorded at each round. A ``start-up`` stage times ``dataprep validate`` on
a one-row file: the fixed cost inside every end-to-end figure.

Bytecode: an installed package has its modules compiled (pip does it at install); a
checkout run with ``PYTHONDONTWRITEBYTECODE=1`` compiles dataprep's modules at every
start (about 25 ms here). The commands therefore run with a bytecode cache of their
own (``PYTHONPYCACHEPREFIX`` under ``--data-dir``), warmed by one run before timing;
``--no-bytecode-cache`` runs them as the environment says.

    python benchmarks/bench_core.py --size-mb 200 --out results.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_chat import generate  # noqa: E402

TARGETS = {
    "validate_vs_jsonschema": 5.0,
    "validate_vs_plain": 0.5,
    "convert_vs_plain": 0.3,
}
RSS_LIMIT_MB = 300


# ------------------------------------------------------------ stages run in a child


def stage_plain(path: str) -> dict:
    import orjson

    loads = orjson.loads
    start, cpu = time.perf_counter(), time.process_time()
    rows = 0
    with open(path, "rb") as f:
        for line in f:
            loads(line)
            rows += 1
    return {
        "rows": rows,
        "seconds": time.perf_counter() - start,
        "loop_cpu": time.process_time() - cpu,
    }


def stage_jsonschema(path: str, limit: int) -> dict:
    import orjson
    from jsonschema import Draft202012Validator

    from dataprep.validate.schema import load_schema

    validator = Draft202012Validator(load_schema("messages"))
    loads = orjson.loads
    start = time.perf_counter()
    rows = errors = 0
    with open(path, "rb") as f:
        for line in f:
            errors += sum(1 for _ in validator.iter_errors(loads(line)))
            rows += 1
            if rows >= limit:
                break
    return {"rows": rows, "seconds": time.perf_counter() - start, "errors": errors}


# -------------------------------------------------------------- running and timing


def _hwm_mb(pid: int) -> float:
    """The peak RSS of a live process so far (Linux VmHWM; reset at exec, unlike the
    ru_maxrss of a forked child, which keeps its parent's size)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_measured(command: list[str]) -> dict:
    """Run ``command``: wall time, exit code, CPU time (``wait4``), the peak RSS of its
    largest process and the peak of the whole process tree's RSS (sampled every 50 ms)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    peak: dict[int, float] = {}
    cpu: dict[int, float] = {}
    tree_peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal tree_peak
        try:
            parent = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                procs = [parent, *parent.children(recursive=True)]
                total = 0.0
                for p in procs:
                    peak[p.pid] = max(peak.get(p.pid, 0.0), _hwm_mb(p.pid))
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
                    total += p.memory_info().rss / 2**20
                tree_peak = max(tree_peak, total)
            except (psutil.Error, OSError):
                pass
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # Drain the pipes in threads so a chatty child never blocks; reap with wait4 for
    # the child's CPU time (its own and its waited-for workers'). The sampler reads
    # VmHWM, not ru_maxrss: a forked child's ru_maxrss starts at its parent's size.
    chunks: dict[str, list[bytes]] = {"out": [], "err": []}
    readers = [
        threading.Thread(target=lambda s=s, k=k: chunks[k].append(s.read()), daemon=True)
        for s, k in ((proc.stdout, "out"), (proc.stderr, "err"))
    ]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    sampler.join()
    for r in readers:
        r.join()
    return {
        "code": proc.returncode,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": max(peak.values(), default=0.0),
        "tree_rss_mb": tree_peak,
        # The CPU time of the busiest process: about the wall time with a free core for
        # each process (sampled, so its last 50 ms may be missing).
        "busiest_cpu": max(cpu.values(), default=0.0),
        "stdout": b"".join(chunks["out"]).decode(errors="replace"),
        "stderr": b"".join(chunks["err"]).decode(errors="replace"),
    }


# Set by main(): where the commands keep their bytecode (None: as the environment says).
_PYCACHE: str | None = None


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    if _PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    return env


def _dataprep() -> list[str]:
    exe = shutil.which("dataprep")
    return [exe] if exe else [sys.executable, "-m", "dataprep"]


def _child_stage(name: str, *args: str) -> dict:
    result = run_measured([sys.executable, str(Path(__file__)), "--stage", name, *args])
    if result["code"] != 0:
        raise SystemExit(f"stage {name} failed:\n{result['stderr']}")
    inner = json.loads(result["stdout"].strip().splitlines()[-1])
    return {**result, **inner}


def _figures(rows: int, megabytes: float, seconds: float, **extra) -> dict:
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "mb_per_s": round(megabytes / seconds, 1),
        **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in extra.items()},
    }


# ------------------------------------------------------------------------- the run


def _median_run(runs: list[dict]) -> dict:
    """The figures of repeated runs of one command: medians, and the largest RSS."""
    return {
        "wall": statistics.median(r["wall"] for r in runs),
        "cpu": statistics.median(r["cpu"] for r in runs),
        "busiest_cpu": statistics.median(r["busiest_cpu"] for r in runs),
        "rss_mb": max(r["rss_mb"] for r in runs),
        "tree_rss_mb": max(r["tree_rss_mb"] for r in runs),
        "walls": [round(r["wall"], 3) for r in runs],
    }


def main() -> None:
    global _PYCACHE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the timed stages")
    parser.add_argument("--jsonschema-rows", type=int, default=2000)
    parser.add_argument("--rss-check-gb", type=float, default=1.0, help="0 to skip")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "dataprep-bench"))
    parser.add_argument("--no-bytecode-cache", action="store_true")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--stage", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stage:  # a child: run one stage, print its JSON
        name, *rest = args.stage
        if name == "plain":
            print(json.dumps(stage_plain(rest[0])))
        elif name == "jsonschema":
            print(json.dumps(stage_jsonschema(rest[0], int(rest[1]))))
        return

    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    if not args.no_bytecode_cache:
        _PYCACHE = str(data / "pycache")
    path = data / f"messages-{args.size_mb:g}mb-seed{args.seed}.jsonl"
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        generate(path, args.size_mb, args.seed)
    size_mb = path.stat().st_size / 1e6
    results: dict = {
        "file": str(path),
        "size_mb": round(size_mb, 1),
        "repeat": args.repeat,
        "bytecode_cache": _PYCACHE is not None,
        "machine": {
            "cpus": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
            "load_average_by_round": [],
        },
        "stages": {},
    }
    stages = results["stages"]

    with tempfile.TemporaryDirectory(prefix="dataprep-bench-") as tmp:
        tiny = os.path.join(tmp, "one.jsonl")
        with open(path, "rb") as f, open(tiny, "wb") as out:
            out.write(f.readline())
        out_path = os.path.join(tmp, "out.jsonl")
        convert_args = ["--to", "sharegpt", "--allow-lossy", "-o", out_path]
        # The default (as the load allows: dataprep._fast.parallel.count_workers), one
        # process, and two processes whatever the load.
        commands = {
            "validate": ["validate", str(path)],
            "validate --jobs 1": ["validate", str(path), "--jobs", "1"],
            "validate --jobs 2": ["validate", str(path), "--jobs", "2"],
            "convert": ["convert", str(path), *convert_args],
            "convert --jobs 1": ["convert", str(path), *convert_args, "--jobs", "1"],
            "convert --jobs 2": ["convert", str(path), *convert_args, "--jobs", "2"],
        }
        # Warm-up: the bytecode cache, and the page cache for the file.
        for command in (["validate", tiny], ["convert", tiny, *convert_args]):
            run_measured([*_dataprep(), *command])
        _child_stage("plain", str(path))

        startup = [run_measured([*_dataprep(), "validate", tiny]) for _ in range(5)]
        stages["start-up"] = {
            "seconds": round(statistics.median(r["wall"] for r in startup), 3),
            "cpu_s": round(statistics.median(r["cpu"] for r in startup), 3),
            "rss_mb": round(max(r["rss_mb"] for r in startup), 1),
        }
        print(
            f"{'start-up (validate, 1 row)':28s} {stages['start-up']['seconds']:8.3f} s"
            f"  cpu {stages['start-up']['cpu_s']:.3f} s",
            flush=True,
        )

        runs: dict[str, list[dict]] = {"plain": [], **{name: [] for name in commands}}
        for round_ in range(args.repeat):
            results["machine"]["load_average_by_round"].append(os.getloadavg())
            runs["plain"].append(_child_stage("plain", str(path)))
            for name, command in commands.items():
                r = run_measured([*_dataprep(), *command])
                if r["code"] != 0:
                    raise SystemExit(
                        f"dataprep {name} failed or found problems in generated data:\n"
                        f"{r['stdout'][-2000:]}{r['stderr'][-2000:]}"
                    )
                runs[name].append(r)
                if os.path.exists(out_path):
                    os.remove(out_path)
            print(
                f"round {round_ + 1}/{args.repeat}: load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )

    plain_runs = runs.pop("plain")
    rows = plain_runs[0]["rows"]
    stages["plain"] = _figures(
        rows,
        size_mb,
        statistics.median(r["seconds"] for r in plain_runs),
        cpu_s=statistics.median(r["loop_cpu"] for r in plain_runs),
        rss_mb=max(r["rss_mb"] for r in plain_runs),
        walls=[round(r["seconds"], 3) for r in plain_runs],
    )
    print(_line("orjson line parsing", stages["plain"]), flush=True)

    js = _child_stage("jsonschema", str(path), str(args.jsonschema_rows))
    per_row = js["seconds"] / js["rows"]
    stages["jsonschema"] = _figures(
        rows,
        size_mb,
        per_row * rows,
        measured_rows=js["rows"],
        extrapolated=js["rows"] < rows,
        rss_mb=js["rss_mb"],
    )
    print(_line("orjson + jsonschema", stages["jsonschema"]), flush=True)

    for name, measured in runs.items():
        m = _median_run(measured)
        stages[name] = _figures(
            rows,
            size_mb,
            m["wall"],
            cpu_s=m["cpu"],
            busiest_cpu_s=m["busiest_cpu"],
            rss_mb=m["rss_mb"],
            tree_rss_mb=m["tree_rss_mb"],
            walls=m["walls"],
        )
        print(_line(f"dataprep {name}", stages[name]), flush=True)

    plain_rate = stages["plain"]["rows_per_s"]
    ratios = {
        "validate_vs_jsonschema": stages["validate"]["rows_per_s"]
        / stages["jsonschema"]["rows_per_s"],
        "validate_vs_plain": stages["validate"]["rows_per_s"] / plain_rate,
        "convert_vs_plain": stages["convert"]["rows_per_s"] / plain_rate,
    }
    results["ratios"] = {
        k: {"measured": round(v, 2), "target": TARGETS[k], "met": v >= TARGETS[k]}
        for k, v in ratios.items()
    }
    # On a machine shared with other work, wall times swing with the load; CPU seconds
    # swing less. The same ratios by CPU time, one process, start-up included:
    plain_cpu = stages["plain"]["cpu_s"]
    results["cpu_ratios"] = {
        "validate_vs_plain": round(plain_cpu / stages["validate --jobs 1"]["cpu_s"], 2),
        "convert_vs_plain": round(plain_cpu / stages["convert --jobs 1"]["cpu_s"], 2),
        # With a free core per process, the busiest process sets the pace.
        "validate_vs_plain_parallel": round(
            plain_cpu / stages["validate --jobs 2"]["busiest_cpu_s"], 2
        ),
        "convert_vs_plain_parallel": round(
            plain_cpu / stages["convert --jobs 2"]["busiest_cpu_s"], 2
        ),
    }
    print()
    for k, r in results["ratios"].items():
        print(
            f"{k:26s} {r['measured']:7.2f}x  target >= {r['target']}x  {'met' if r['met'] else 'MISSED'}"
        )
    for k, r in results["cpu_ratios"].items():
        how = "busiest of --jobs 2" if k.endswith("_parallel") else "--jobs 1"
        print(f"{k:26s} {r:7.2f}x  by CPU time ({how}, start-up included)")

    if args.rss_check_gb > 0:
        copies = max(1, math.ceil(args.rss_check_gb * 1000 / size_mb))
        big = data / f"messages-{copies}x{args.size_mb:g}mb-seed{args.seed}.jsonl"
        if not big.exists():
            print(f"\nwriting {big} ({copies} copies) ...", flush=True)
            with open(big, "wb") as out:
                for _ in range(copies):
                    with open(path, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 24)
        big_mb = big.stat().st_size / 1e6
        v = run_measured([*_dataprep(), "validate", str(big)])
        # Every row after the first copy is a duplicate: warnings, so exit 0.
        check = _figures(
            rows * copies,
            big_mb,
            v["wall"],
            code=v["code"],
            rss_mb=v["rss_mb"],
            tree_rss_mb=v["tree_rss_mb"],
            limit_mb=RSS_LIMIT_MB,
        )
        check["met"] = v["rss_mb"] < RSS_LIMIT_MB and v["code"] == 0
        check["summary"] = v["stdout"].strip().splitlines()[0] if v["stdout"].strip() else ""
        results["rss_check"] = check
        print(
            f"\nstreaming check: validate {big_mb / 1000:.2f} GB: peak RSS {v['rss_mb']:.0f} MB per process "
            f"({v['tree_rss_mb']:.0f} MB all processes), limit {RSS_LIMIT_MB} MB: "
            f"{'met' if check['met'] else 'MISSED'}"
        )

    results["machine"]["load_average_at_end"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nresults: {args.out}")


def _line(name: str, f: dict) -> str:
    note = f" (extrapolated from {f['measured_rows']} rows)" if f.get("extrapolated") else ""
    cpu = f"  cpu {f['cpu_s']:.2f} s" if "cpu_s" in f else ""
    rss = f"{cpu}  peak RSS {f['rss_mb']:.0f} MB" + (
        f" ({f['tree_rss_mb']:.0f} MB all processes)" if "tree_rss_mb" in f else ""
    )
    return (
        f"{name:28s} {f['seconds']:8.2f} s  {f['rows_per_s']:>9,} rows/s  {f['mb_per_s']:7.1f} MB/s"
        f"{rss}{note}"
    )


if __name__ == "__main__":
    main()
