"""What a finished run says at its end, and keeps in ``OUT/run_summary.json``: steps,
tokens trained, tokens/s, peak memory, the loss first -> last (and the eval loss), where
the model is, and what to run next. ``--plot FILE`` draws the loss curves.

``train.run.train_and_save`` makes it for every method, so a new recipe gets it without
a line of its own.

>>> losses([{"loss": 2.0, "step": 1}, {"eval_loss": 1.5, "step": 1}, {"loss": 1.0, "step": 2}])
([(1, 2.0), (2, 1.0)], [(1, 1.5)])
"""

from __future__ import annotations

import json
import resource
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SUMMARY = "run_summary.json"


@dataclass
class RunSummary:
    command: str
    kind: str
    mode: str
    steps: int
    seconds: float  # the training call's wall time, evals during training included
    tokens_seen: int  # tokens in the batches trained on, padding excluded
    tokens_trained: int  # of those, the tokens the loss was taken on
    tokens_counted_by: str
    peak_memory_gib: float
    peak_memory_of: str  # "cuda max_memory_allocated" or "peak RSS (CPU)"
    loss_first: float | None
    loss_last: float | None
    eval_loss_first: float | None
    eval_loss_last: float | None
    train_loss_mean: float | None  # the trainer's mean over the run (logged at its end)
    output: str
    adapter: bool
    data: str
    resumed: bool = False
    next_commands: list[str] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_second": round(self.tokens_per_second, 1)}


def losses(
    history: list[dict[str, Any]],
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(step, training loss) and (step, eval loss) pairs of a trainer's ``log_history``."""
    train = [(e["step"], float(e["loss"])) for e in history if "loss" in e and "step" in e]
    evals = [(e["step"], float(e["eval_loss"])) for e in history if "eval_loss" in e]
    return train, evals


def peak_memory() -> tuple[float, str]:
    """The run's peak memory in GiB, and what was measured: CUDA's allocated peak on
    this process's GPU, else the process's peak resident set size."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**30, "cuda max_memory_allocated"
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    scale = 2**30 if sys.platform == "darwin" else 2**20  # bytes on macOS
    return kib / scale, "peak RSS (CPU)"


def next_commands(output: Path, data: Path, adapter: bool) -> list[str]:
    out = shlex.quote(str(output))
    commands = [f"train eval {out} --data {shlex.quote(str(data))}"]
    if adapter:
        merged = shlex.quote(str(output.with_name(f"{output.name}-merged")))
        commands.insert(0, f"train merge {out} -o {merged}")
    return commands


def summarize(
    history: list[dict[str, Any]],
    *,
    command: str,
    kind: str,
    mode: str,
    steps: int,
    seconds: float,
    tokens: tuple[int, int],
    output: Path,
    data: Path,
    resumed: bool = False,
) -> RunSummary:
    train, evals = losses(history)
    memory, measured = peak_memory()
    adapter = mode in ("lora", "qlora")
    return RunSummary(
        command=command,
        kind=kind,
        mode=mode,
        steps=steps,
        seconds=round(seconds, 3),
        tokens_seen=tokens[0],
        tokens_trained=tokens[1],
        tokens_counted_by="train.metrics.TokenCount: the batches of this session's optimizer steps",
        peak_memory_gib=round(memory, 3),
        peak_memory_of=measured,
        loss_first=train[0][1] if train else None,
        loss_last=train[-1][1] if train else None,
        eval_loss_first=evals[0][1] if evals else None,
        eval_loss_last=evals[-1][1] if evals else None,
        train_loss_mean=next(
            (float(e["train_loss"]) for e in reversed(history) if "train_loss" in e), None
        ),
        output=str(output),
        adapter=adapter,
        data=str(data),
        resumed=resumed,
        next_commands=next_commands(output, data, adapter),
    )


def format_summary(s: RunSummary) -> str:
    """The lines said at the end of the run."""

    def arrow(first: float | None, last: float | None) -> str:
        return (
            f"{first:.4f} -> {last:.4f}"
            if first is not None and last is not None
            else "none logged"
        )

    loss = arrow(s.loss_first, s.loss_last)
    if s.loss_first is None and s.train_loss_mean is not None:
        loss = f"mean {s.train_loss_mean:.4f} (no step logged: fewer steps than logging_steps)"

    session = " (this session)" if s.resumed else ""
    lines = [
        f"done: {s.kind} {s.mode}, {s.steps:,} steps",
        f"  tokens{session}: {s.tokens_seen:,} in batches, {s.tokens_trained:,} trained; "
        f"{s.tokens_per_second:,.0f} tokens/s over {s.seconds:,.1f} s",
        f"  peak memory: {s.peak_memory_gib:.2f} GiB ({s.peak_memory_of})",
        f"  loss: {loss}",
    ]
    if s.eval_loss_first is not None:
        lines.append(f"  eval loss: {arrow(s.eval_loss_first, s.eval_loss_last)}")
    what = "adapter" if s.adapter else "model"
    lines.append(f"  {what}: {s.output}")
    lines.append("  next:")
    lines += [f"    {c}" for c in s.next_commands]
    return "\n".join(lines)


def write_summary(summary: RunSummary, folder: Path) -> Path:
    path = folder / SUMMARY
    path.write_text(json.dumps(summary.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def check_plot_path(path: str | Path) -> None:
    """Refuse ``--plot FILE`` before training when it cannot be written: not a PNG name,
    a folder, or matplotlib missing."""
    from dataprep.errors import UsageError
    from train.reporting import is_installed

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot {path}: the plot is a PNG; name the file *.png")
    if path.is_dir():
        raise UsageError(f"--plot {path}: a folder; name a file")
    if not is_installed("matplotlib"):
        raise UsageError("--plot: matplotlib is not installed: pip install matplotlib")
    from train.outputs import check_output_folder

    check_output_folder(path.parent if str(path.parent) else Path("."), flag="--plot")


def plot_losses(history: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """The training (and eval) loss by step, as a PNG (matplotlib's Agg backend: no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, evals = losses(history)
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        axes.plot(*zip(*train, strict=True), label="train loss")
    if evals:
        axes.plot(*zip(*evals, strict=True), marker="o", label="eval loss")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    if title:
        axes.set_title(title)
    axes.grid(alpha=0.3)
    if train or evals:
        axes.legend()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")
    plt.close(figure)
    return path
