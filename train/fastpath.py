"""Which attention path and kernels a training run uses.

The seam between the trainer (``train.sft``, ``train.dpo``) and device-specific speed work:
the trainer asks here, once, how to load and adapt a model; this module decides from the
device and from whether batches are packed.

On the CPU the answer is the safe default: PyTorch SDPA. With padding-free packed batches
transformers 5.24 derives document boundaries from the restarting ``position_ids`` that
TRL's collator emits, so documents never attend to each other.
"""

from __future__ import annotations

from typing import Any


def attention_implementation(device_type: str, *, packed: bool) -> str:
    """The ``attn_implementation`` to load the model with."""
    return "sdpa"


def adapt_model(model: Any, *, device_type: str, packed: bool) -> list[str]:
    """Apply device-specific kernels to a loaded model; returns notes for the user."""
    return []
