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
    parser.add_argument(
        "--stacks", action="store_true", help="also write where the host waits for the device"
    )
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
                # Python stacks need the verbose experimental config (torch 2.13).
                verbose = torch._C._profiler._ExperimentalConfig(verbose=True)
                self.profiler = torch.profiler.profile(
                    activities=activities,
                    with_stack=args.stacks,
                    experimental_config=verbose if args.stacks else None,
                )
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
        if args.stacks:
            (args.out / f"{args.method}_waits.txt").write_text(waits(profiler))
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

    def waits(profiler) -> str:
        """The operators that make the host wait for the device (a scalar read, a
        nonzero, a copy to the CPU, a stream sync), each with the Python lines that called
        it, most frequent first: every one stops the CPU from running ahead."""
        names = ("aten::_local_scalar_dense", "aten::nonzero", "cudaStreamSynchronize",
                 "cudaDeviceSynchronize", "aten::item")  # fmt: skip
        found = [e for e in profiler.key_averages(group_by_stack_n=12) if e.key in names]
        lines = []
        for e in sorted(found, key=lambda e: -e.count):
            lines.append(f"{e.count / args.steps:6.1f} a step  {e.key}")
            lines += [f"        {frame}" for frame in e.stack if ".py(" in frame]
        return "\n".join(lines) + "\n"

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
