"""Fine-tune on data that ``dataprep prepare`` wrote, with TRL underneath.

    train sft DIR --model PATH -o OUT        supervised fine-tuning (LoRA by default)
    train dpo DIR --model PATH -o OUT        preference optimisation
    train kto DIR --model PATH -o OUT        KTO: answers labelled desirable or not
    train eval OUT --data DIR                loss, perplexity, preference figures, answers
    train merge OUT -o MERGED                a LoRA adapter folded into its base model
    train check CONFIG.yaml                  a config validated without training

The modules read in pipeline order: ``config`` (YAML -> our fields -> TRL's config),
``data`` (the prepared folder and its manifest), ``models`` (model, tokenizer, LoRA,
precision), then the recipes ``sft``, ``dpo`` and ``kto`` (the steps they take alike in
``run``; what a run logs and says at its end in ``metrics``, ``summary`` and ``card``),
``merge``, ``evaluate`` (with ``generation``), ``callbacks``, and ``check`` (``train
check``, above ``config``, ``data`` and ``reporting``). Below them: ``machine`` (device, bf16, the local
model cache) and ``_upstream`` (every reliance on another project's internals, each with
the version it was written against).
Importing this package imports nothing heavy: ``train --help`` answers without torch.
"""

from __future__ import annotations

import os
import sys


def is_main_process() -> bool:
    """True on the process that talks to the user (rank 0 under ``accelerate launch``)."""
    return os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


def processes() -> str:
    """ ", 2 processes" when a launcher (accelerate, torchrun) started several, else "":
    the run's first line then says how many take part."""
    count = int(os.environ.get("WORLD_SIZE", "1") or 1)
    return f", {count} processes" if count > 1 else ""


def say(message: str) -> None:
    """A progress note on stderr, from the main process only (stdout stays for data)."""
    if is_main_process():
        print(message, file=sys.stderr, flush=True)
