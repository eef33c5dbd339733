"""Benchmark ``prepare --engine ray`` against ``--engine local`` on this machine (issue 13).

Same input, tokenizer and options for every run; each run is a fresh process (imports
included) that calls ``prepare()`` with timers around its stages:

- local at ``--num-proc`` 1 and 2;
- ray at 1 and 2 workers (``--num-proc``), on a two-node cluster started here
  (``tests/support/ray_cluster.py``: a head and a second node, one CPU each, on loopback);

and reports the wall time, the per-row overhead of ray against local at the same number
of workers, the driver's serial work (``collect``: rejects, dedup, counts and the spill;
``pack_and_write``: the packing plan and the Arrow shards) as a rate, the time before the
first batch came back (Ray's fixed cost: connect, start the actors, load the tokenizer),
and the driver's peak memory. Then the best-fit-decreasing plan alone on synthetic
document lengths (``--plan-docs``), for its time and memory per document.

Data: ``benchmarks/gen_chat.py`` (seeded chat rows in the messages format), the 32k BPE
of ``bench_prepare.py`` with the ChatML template; both cached in ``benchmarks/.cache``.

    python benchmarks/bench_ray.py                          # 64 MB, ~8k rows (~12 min)
    python benchmarks/bench_ray.py --size-mb 8 --repeat 1   # quick
    python benchmarks/bench_ray.py --plan-only --plan-docs 1000000,4000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
sys.path[:0] = [str(HERE), str(ROOT / "tests" / "support")]

MAX_LENGTH = 2048


# --- one run, in a fresh process ---------------------------------------------------------


def child(spec: dict) -> dict:
    """Run prepare in this process with timers around its stages; return the figures."""
    from collections import defaultdict

    from dataprep.prepare import pipeline, ray_engine
    from dataprep.prepare.encode import workers

    timers: dict[str, float] = defaultdict(float)
    first: list[float] = []

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timers[name] += time.perf_counter() - start

        return wrapper

    pipeline.encode = timed("encode", pipeline.encode)
    pipeline.pack_and_write = timed("pack_and_write", pipeline.pack_and_write)
    pipeline.pack_best_fit_decreasing = timed("bfd_plan", pipeline.pack_best_fit_decreasing)
    workers.Worker.run = timed("worker_run_in_driver", workers.Worker.run)
    real_encode_on_ray = ray_engine.encode_on_ray

    def encode_on_ray(options, plan, inputs, collect):
        started = time.perf_counter()

        def collect_first(*args):
            if not first:
                first.append(time.perf_counter() - started)
            return collect(*args)

        return real_encode_on_ray(options, plan, inputs, timed("collect", collect_first))

    ray_engine.encode_on_ray = encode_on_ray

    options = pipeline.PrepareOptions(
        inputs=[spec["input"]],
        tokenizer=spec["tokenizer"],
        max_length=MAX_LENGTH,
        output=spec["output"],
        num_proc=spec["workers"],
        engine=spec["engine"],
        address=spec.get("address"),
        force=True,
    )
    start = time.perf_counter()
    result = pipeline.prepare(options)
    wall = time.perf_counter() - start
    m = result.manifest
    return {
        **spec,
        "seconds": wall,
        "rows_in": m["counts"]["rows_in"],
        "documents": sum(s["documents"] for s in m["splits"].values()),
        "tokens": m["tokens"]["total"],
        "stages": dict(timers),
        "first_batch_seconds": first[0] if first else None,
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": os.getloadavg()[0],
    }


def overhead_child(spec: dict) -> dict:
    """CPU time, in this one process and without Ray, of what the ray engine adds to each
    row's work: the actor slimming the records and pickling a block's results
    (``EncodeBlocks.encode``), the driver unpickling them; and the bytes a row sends to the
    driver. Measured on the parts themselves: the difference of two whole runs drowns in
    the noise of a shared machine."""
    import pickle
    import tempfile

    import dataprep
    from dataprep.prepare import pipeline, ray_engine
    from dataprep.prepare.encode.workers import batches_of
    from dataprep.prepare.identity import gather_inputs, tokenizer_identity
    from dataprep.reading.limits import max_row_bytes

    options = pipeline.PrepareOptions(
        inputs=[spec["input"]], tokenizer=spec["tokenizer"], max_length=MAX_LENGTH, output="x"
    )
    inputs = gather_inputs(options, Path(tempfile.mkdtemp()))
    plan = pipeline.plan_inputs(options, inputs, tokenizer_identity(options.tokenizer))
    actor = ray_engine.EncodeBlocks(
        plan.job, plan.tokenizer, plan.template, max_row_bytes(), False, dataprep.__version__
    )
    blocks = ray_engine.plan_blocks(inputs, ray_engine.block_bytes(inputs, 2))
    work = slim = dumps = loads = 0.0
    rows = shipped = 0
    for block in blocks:
        start = time.process_time()
        results = [
            (records, actor.worker.run(0, [r.value for r in records]))
            for records in batches_of(ray_engine.block_records(block))
        ]
        work += time.process_time() - start
        start = time.process_time()
        slimmed = [(actor._slim(records, result), result) for records, result in results]
        slim += time.process_time() - start
        start = time.process_time()
        payload = pickle.dumps(("ok", 0, slimmed), protocol=pickle.HIGHEST_PROTOCOL)
        dumps += time.process_time() - start
        start = time.process_time()
        pickle.loads(payload)
        loads += time.process_time() - start
        rows += sum(len(records) for records, _ in results)
        shipped += len(payload)
    return {
        "rows": rows,
        "blocks": len(blocks),
        "input_bytes": sum(i.size for i in inputs),
        "work_cpu_us_per_row": work / rows * 1e6,
        "slim_cpu_us_per_row": slim / rows * 1e6,
        "pickle_cpu_us_per_row": dumps / rows * 1e6,
        "driver_unpickle_cpu_us_per_row": loads / rows * 1e6,
        "bytes_sent_per_row": shipped / rows,
        "load": os.getloadavg()[0],
    }


def run(spec: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    if done.returncode != 0:
        raise RuntimeError(f"run {spec} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the packing plan alone --------------------------------------------------------------


def plan_child(docs: int) -> dict:
    """BFD over ``docs`` synthetic lengths (log-normal, median ~300 tokens, within 1..2048):
    seconds, and the peak memory above the lengths themselves."""
    import numpy as np

    from dataprep.prepare.packing import pack_best_fit_decreasing

    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(5.7, 1.0, docs), 1, MAX_LENGTH).astype(np.int64)
    # The resident size now (not the peak so far: the imports' peak may be above it).
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    before = int(Path("/proc/self/statm").read_text().split()[1]) * page_kb
    start = time.perf_counter()
    plan = pack_best_fit_decreasing(lengths, MAX_LENGTH)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = plan.num_rows
    del plan
    # --dedup: the driver's map of content key (16 bytes) -> (input, line) of first sight.
    now = int(Path("/proc/self/statm").read_text().split()[1]) * page_kb
    seen = {i.to_bytes(16, "little"): (0, i + 1000) for i in range(docs)}
    dedup_kb = int(Path("/proc/self/statm").read_text().split()[1]) * page_kb - now
    assert len(seen) == docs
    return {
        "docs": docs,
        "rows": rows,
        "seconds": seconds,
        "peak_above_lengths_mb": (peak - before) / 1024,
        "bytes_per_doc": (peak - before) * 1024 / docs,
        "dedup_bytes_per_row": dedup_kb * 1024 / docs,
        "load": os.getloadavg()[0],
    }


def run_plan(docs: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--plan-child", str(docs)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the whole benchmark -----------------------------------------------------------------


def prepare_inputs(size_mb: float) -> tuple[Path, Path]:
    from bench_prepare import bench_tokenizer, ensure_cache
    from gen_chat import generate

    ensure_cache()
    data = CACHE / f"ray-chat-{size_mb:g}mb.jsonl"
    if not data.exists():
        generate(data, size_mb, seed=0)
    return data, bench_tokenizer(data, seed=0)


def report(runs: list[dict], plans: list[dict]) -> str:
    def best(engine: str, workers: int) -> dict:
        mine = [r for r in runs if r["engine"] == engine and r["workers"] == workers]
        return min(mine, key=lambda r: r["seconds"])

    lines = [
        "| engine | workers | wall s | rows/s | us/row over local | ray/local | first batch s "
        "| us/row over local after the first batch | driver collect us/row "
        "| pack_and_write us/row | driver peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for engine in ("local", "ray"):
        for workers in (1, 2):
            r = best(engine, workers)
            base = best("local", workers)
            rows = r["rows_in"]
            over = (r["seconds"] - base["seconds"]) / rows * 1e6
            fixed = r["first_batch_seconds"] or 0.0
            steady = (r["seconds"] - fixed - base["seconds"]) / rows * 1e6
            collect = r["stages"].get("collect")
            lines.append(
                f"| {engine} | {workers} | {r['seconds']:.1f} | {rows / r['seconds']:,.0f} | "
                f"{over:+.0f} | {r['seconds'] / base['seconds']:.2f} | "
                f"{fixed:.1f} | {steady:+.0f} | "
                f"{'' if collect is None else f'{collect / rows * 1e6:.0f}'} | "
                f"{r['stages']['pack_and_write'] / rows * 1e6:.0f} | "
                f"{r['driver_peak_rss_mb']:.0f} |"
            )
    if plans:
        lines += ["", "| documents | BFD s | us/doc | peak above lengths MB | bytes/doc "
                  "| --dedup map bytes/row |", "|---|---|---|---|---|---|"]  # fmt: skip
        for p in plans:
            lines.append(
                f"| {p['docs']:,} | {p['seconds']:.1f} | {p['seconds'] / p['docs'] * 1e6:.2f} | "
                f"{p['peak_above_lengths_mb']:.0f} | {p['bytes_per_doc']:.0f} | "
                f"{p['dedup_bytes_per_row']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=64.0)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best is kept")
    parser.add_argument("--plan-docs", default="1000000,4000000")
    parser.add_argument("--plan-only", action="store_true")
    parser.add_argument("--out", type=Path, default=CACHE / "results-issue13.json")
    parser.add_argument("--child")
    parser.add_argument("--overhead-child")
    parser.add_argument("--overhead-only", action="store_true")
    parser.add_argument("--plan-child", type=int)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if args.overhead_child:
        print(json.dumps(overhead_child(json.loads(args.overhead_child))))
        return
    if args.plan_child:
        print(json.dumps(plan_child(args.plan_child)))
        return

    runs: list[dict] = []
    overhead = None
    if not args.plan_only:
        data, tok = prepare_inputs(args.size_mb)
        spec = json.dumps({"input": str(data), "tokenizer": str(tok)})
        done = subprocess.run(
            [sys.executable, __file__, "--overhead-child", spec],
            capture_output=True, text=True, cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True,
        )  # fmt: skip
        overhead = json.loads(done.stdout.strip().splitlines()[-1])
        print("CPU per row, no Ray: " + json.dumps(overhead), flush=True)
    if not args.plan_only and not args.overhead_only:
        from ray_cluster import ray_cluster

        out = CACHE / "out-ray-bench"
        print(f"input {data} ({data.stat().st_size / 2**20:.1f} MiB), tokenizer {tok}", flush=True)
        with ray_cluster(CACHE, cpus=1, nodes=2) as cluster:
            for _ in range(args.repeat):
                for engine, workers in (("local", 1), ("ray", 1), ("local", 2), ("ray", 2)):
                    spec = {
                        "engine": engine,
                        "workers": workers,
                        "input": str(data),
                        "tokenizer": str(tok),
                        "output": str(out / f"{engine}-{workers}"),
                        "address": cluster.address if engine == "ray" else None,
                    }
                    r = run(spec)
                    runs.append(r)
                    print(
                        f"{engine} x{workers}: {r['seconds']:.1f} s, {r['rows_in']} rows, "
                        f"load {r['load']:.1f}, stages "
                        + ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items()),
                        flush=True,
                    )
        same = {p.name: p.read_bytes() for p in sorted((out / "local-1").rglob("*.arrow"))} == {
            p.name: p.read_bytes() for p in sorted((out / "ray-2").rglob("*.arrow"))
        }
        print(f"ray x2 data files byte-identical to local x1: {same}", flush=True)
    plans = [] if args.overhead_only else [run_plan(int(n)) for n in args.plan_docs.split(",")]
    for p in plans:
        print(f"BFD {p['docs']:,} docs: {p['seconds']:.1f} s, +{p['peak_above_lengths_mb']:.0f} MB")
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps({"runs": runs, "plans": plans, "overhead": overhead}, indent=2))
    if runs:
        print(report(runs, plans))
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
