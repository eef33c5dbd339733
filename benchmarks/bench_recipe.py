"""The issue-10 benchmark: a 3-source recipe prepared in one run vs the three sources
prepared one by one, with the same tokenizer and options; and where polars stands
against the plain code of the per-source accounting.

    PYTHONPATH=. python benchmarks/bench_recipe.py [--rows 3000] [--repeat 3]

1. ``recipe``: ``dataprep prepare mix.yaml`` (library call, in-process): three sources
   (messages, alpaca, sharegpt; ``--rows`` rows each), every row once;
2. ``one by one``: ``dataprep prepare`` on each source file in turn (three runs);
   rounds alternate the two, the figure is the median; ``--force`` each time (no cache).
   Same-run ratio: recipe seconds / one-by-one seconds.
3. polars: counting the rows of each source (the mix needs them before the run):
   ``read_records`` (the reader the run uses, so the counts agree) vs
   ``polars.scan_ndjson(...).select(pl.len())``; and the per-source totals from a ledger
   of one entry per row (source, rows out, tokens): ``numpy.bincount`` vs polars
   ``group_by``. The run itself needs neither: a batch holds rows of one source only, so
   the accounting is a sum per batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

from dataprep.prepare.pipeline import PrepareOptions, prepare
from dataprep.prepare.sources import count_rows, options_from_recipe
from dataprep.recipe.model import load_recipe

TOKENIZER = str(Path(__file__).resolve().parent.parent / "samples" / "tiny-tokenizer")
WORDS = ["the", "a", "weather", "question", "answer", "city", "river", "mountain", "reply",
         "sure", "long", "short"]  # fmt: skip


def text(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(WORDS, n))


def write_sources(folder: Path, rows: int) -> list[Path]:
    rng = np.random.default_rng(0)
    shapes = {
        "messages.jsonl": lambda i: {"messages": [
            {"role": "user", "content": f"{i} " + text(rng, 20)},
            {"role": "assistant", "content": text(rng, 60)}]},
        "alpaca.jsonl": lambda i: {"instruction": f"{i} " + text(rng, 15), "input": "",
                                   "output": text(rng, 50)},
        "sharegpt.jsonl": lambda i: {"conversations": [
            {"from": "human", "value": f"{i} " + text(rng, 20)},
            {"from": "gpt", "value": text(rng, 60)}]},
    }  # fmt: skip
    paths = []
    for name, make in shapes.items():
        path = folder / name
        path.write_bytes(b"".join(orjson.dumps(make(i)) + b"\n" for i in range(rows)))
        paths.append(path)
    return paths


def run_recipe(recipe_path: Path, out: Path) -> float:
    recipe = load_recipe(str(recipe_path))
    base = dict(tokenizer=TOKENIZER, max_length=512, output=str(out), force=True)
    kw, _ = options_from_recipe(recipe, {}, base)
    started = time.perf_counter()
    prepare(PrepareOptions(**kw))
    return time.perf_counter() - started


def run_one_by_one(paths: list[Path], out: Path) -> float:
    started = time.perf_counter()
    for i, path in enumerate(paths):
        prepare(PrepareOptions(inputs=[str(path)], tokenizer=TOKENIZER, max_length=512,
                               output=str(out / str(i)), force=True))  # fmt: skip
    return time.perf_counter() - started


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_polars(paths: list[Path], repeat: int) -> None:
    import polars as pl

    plain = best_of(lambda: [count_rows(str(p)) for p in paths], repeat)
    fast = best_of(
        lambda: [pl.scan_ndjson(p).select(pl.len()).collect().item() for p in paths], repeat
    )
    assert [count_rows(str(p)) for p in paths] == [
        pl.scan_ndjson(p).select(pl.len()).collect().item() for p in paths
    ]
    print(f"count rows (3 sources): read_records {plain * 1e3:.1f} ms, "
          f"polars {fast * 1e3:.1f} ms ({plain / fast:.1f}x)")  # fmt: skip
    n = 3_000_000
    rng = np.random.default_rng(1)
    source = rng.integers(0, 3, n)
    tokens = rng.integers(10, 2000, n)
    kept = rng.random(n) < 0.95
    plain = best_of(lambda: (np.bincount(source, weights=tokens * kept, minlength=3),
                             np.bincount(source, weights=kept, minlength=3)), repeat)  # fmt: skip
    frame = pl.DataFrame({"source": source, "tokens": tokens, "kept": kept})
    fast = best_of(
        lambda: frame.group_by("source").agg(
            (pl.col("tokens") * pl.col("kept")).sum(), pl.col("kept").sum()
        ),
        repeat,
    )
    print(f"per-source totals over a {n:,}-row ledger: numpy {plain * 1e3:.1f} ms, "
          f"polars {fast * 1e3:.1f} ms ({plain / fast:.1f}x)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3000, help="rows per source")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_sources(folder, args.rows)
        recipe = folder / "mix.yaml"
        recipe.write_text("sources:\n" + "".join(f"  - path: {p.name}\n" for p in paths))
        recipe_times, single_times = [], []
        for _ in range(args.repeat):
            recipe_times.append(run_recipe(recipe, folder / "recipe-out"))
            single_times.append(run_one_by_one(paths, folder / "single-out"))
        r, s = statistics.median(recipe_times), statistics.median(single_times)
        rows = 3 * args.rows
        print(f"3-source recipe, {rows:,} rows: one run {r:.2f} s ({rows / r:,.0f} rows/s), "
              f"one by one {s:.2f} s ({rows / s:,.0f} rows/s); same-run ratio "
              f"recipe/one-by-one {r / s:.2f}")  # fmt: skip
        bench_polars(paths, args.repeat)


if __name__ == "__main__":
    main()
