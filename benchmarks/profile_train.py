"""Where a `train` step's time goes: torch.profiler over a few steps of a real run.

    python benchmarks/profile_train.py dpo .bench_cli/dpo --model M --tokenizer T --out DIR \
        [--set key=value ...]

Runs the method's own recipe (``train.<method>.run_<method>``, full fine-tuning) with a
callback that profiles steps ``--start`` to ``--start + --steps`` and writes, into
``--out``: ``<method>_ops.txt`` (operators by CUDA time and by CPU time), and the step
times, GPU-busy share and kernel count per step in ``<method>_profile.json``.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method")
    parser.add_argument("data")
    parser.add_argument("--model", required=True)
    parser.add_argument("--tokenizer")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--start", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()

    import torch
    from transformers import TrainerCallback

    from train.config import load_run_config

    cuda = torch.cuda.is_available()
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    class Profile(TrainerCallback):
        def __init__(self) -> None:
            self.profiler = None
            self.marks: list[float] = []

        def on_step_begin(self, targs, state, control, **kwargs):
            if state.global_step == args.start:
                sync()
                self.profiler = torch.profiler.profile(activities=activities)
                self.profiler.__enter__()
                self.marks.append(time.perf_counter())

        def on_step_end(self, targs, state, control, **kwargs):
            if self.profiler is None:
                return
            sync()
            self.marks.append(time.perf_counter())
            if state.global_step >= args.start + args.steps:
                self.profiler.__exit__(None, None, None)
                write(self.profiler, self.marks)
                self.profiler = None

    def write(profiler, marks):
        args.out.mkdir(parents=True, exist_ok=True)
        averages = profiler.key_averages()
        table = averages.table(
            sort_by="cuda_time_total" if cuda else "cpu_time_total", row_limit=40
        )
        table_cpu = averages.table(sort_by="self_cpu_time_total", row_limit=30)
        (args.out / f"{args.method}_ops.txt").write_text(table + "\n\n" + table_cpu)
        events = profiler.events()
        kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
        busy = sum(e.device_time for e in kernels) / 1e6
        wall = marks[-1] - marks[0]
        (args.out / f"{args.method}_profile.json").write_text(
            json.dumps(
                {
                    "steps": args.steps,
                    "step_seconds": [b - a for a, b in itertools.pairwise(marks)],
                    "wall_s": wall,
                    "kernel_seconds": busy,
                    "gpu_busy_share": busy / wall if wall else None,
                    "kernels_per_step": len(kernels) / args.steps,
                },
                indent=1,
            )
        )

    sets = (
        f"max_steps={args.start + args.steps + 1}",
        "logging_steps=1",
        "save_strategy=no",
        "disable_tqdm=true",
        *args.sets,
    )
    run = load_run_config(
        None,
        sets,
        {
            "model": (args.model, "--model"),
            "tokenizer": (args.tokenizer, "--tokenizer"),
            "mode": ("full", "--full"),
        },
    )
    module = importlib.import_module(f"train.{args.method}")
    recipe = getattr(module, f"run_{args.method}")
    recipe(args.data, run, f"/tmp/profile_{args.method}", callbacks=[Profile()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
