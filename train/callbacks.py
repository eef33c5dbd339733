"""What keeps a run honest: a non-finite loss stops it, naming the step; running out of
GPU memory ends in advice rather than a bare CUDA error."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

from transformers import TrainerCallback

from dataprep.errors import TrainError
from train import _upstream


class StopOnNonFiniteLoss(TrainerCallback):
    """Raise TrainError at the first optimizer step whose loss is NaN or infinite.

    The trainer sums the step losses between two logs; a NaN or an infinity in any step
    stays in that sum, so checking it at the end of every step finds the first bad step.
    (``logging_nan_inf_filter`` is off in our configs: it would replace the bad loss.)
    The check costs one scalar read per optimizer step.
    """

    def __init__(self, trainer: Any):
        _upstream.check("running_loss")
        self.trainer = trainer

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        running = _upstream.running_loss(self.trainer)
        if running is None:
            return
        value = float(running.detach().sum())
        if not math.isfinite(value):
            self._stop(state.global_step, value, args)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any
    ) -> None:
        # Catches what the per-step check cannot see (a trainer without a running loss).
        loss = (logs or {}).get("loss")
        if isinstance(loss, float) and not math.isfinite(loss):
            self._stop(state.global_step, loss, args)

    @staticmethod
    def _stop(step: int, value: float, args: Any) -> None:
        what = "NaN" if math.isnan(value) else "infinite"
        raise TrainError(
            f"the loss became {what} at step {step}; the run stopped there "
            f"(last checkpoint in {args.output_dir}). Try a lower learning rate "
            f"(now {args.learning_rate:g}), warmup, or gradient clipping (max_grad_norm)"
        )


def oom_advice(args: Any, step: int) -> str:
    batch = args.per_device_train_batch_size
    accumulation = args.gradient_accumulation_steps
    smaller = max(batch // 2, 1)
    lines = [
        f"out of GPU memory at step {step} (per_device_train_batch_size={batch}, "
        f"gradient_accumulation_steps={accumulation}). To fit:",
        f"  a smaller batch, same effective size: --set per_device_train_batch_size={smaller} "
        f"--set gradient_accumulation_steps={accumulation * batch // smaller}",
    ]
    if not args.activation_checkpointing:
        lines.append("  recompute activations: --set activation_checkpointing=true")
    lines.append("  a 4-bit base model: --qlora")
    lines.append("  shorter rows: prepare again with a smaller --max-length")
    return "\n".join(lines)


@contextlib.contextmanager
def advise_on_oom(trainer: Any) -> Iterator[None]:
    """Turn ``torch.OutOfMemoryError`` from the training loop into a TrainError with advice."""
    import torch

    try:
        yield
    except torch.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise TrainError(oom_advice(trainer.args, trainer.state.global_step)) from None
