"""Supervised fine-tuning on prepared data, top to bottom.

    train sft DIR --model PATH -o OUT [--qlora | --full] [--config FILE] [--set key=value]

The data goes to TRL's ``SFTTrainer`` as ``prepare`` wrote it: ``skip_prepare_dataset``
(no second tokenization, truncation or packing), labels used as they are. Packed rows
carry ``seq_lengths``; with ``padding_free`` TRL's collator turns them into
``position_ids`` that restart at every document, and the attention path keeps each
document to itself (``tests/train/test_packing_attention.py`` checks the logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trl import SFTTrainer

from train import models, processes, say
from train.config import RunConfig
from train.run import (
    configure,
    load_data_and_tokenizer,
    load_model,
    make_trainer,
    train_and_save,
)


def run_sft(
    data_dir: str | Path,
    run: RunConfig,
    output_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    command: str = "train sft",
) -> Any:
    """Train, save the adapter (or model) with its tokenizer, config and manifest in
    ``output_dir``; returns the trainer (its ``state.log_history`` has the losses)."""
    output_dir = Path(output_dir)

    # 1. The data, and the tokenizer it was made with.
    data, tokenizer = load_data_and_tokenizer(data_dir, run, kind="sft")

    # 2. TRL's config: our defaults for the mode and device (activation checkpointing
    # and the weights' dtype from a memory estimate on a GPU), then the user's keys.
    run, args, device, checkpoint = configure(
        run, data, "sft", output_dir, resume=resume, packed=data.packed
    )

    # 3. The model, on the attention path that keeps packed documents apart.
    model = load_model(run, tokenizer, device, packed=data.packed)
    trainer = make_trainer(
        SFTTrainer,
        run,
        callbacks,
        data,
        model=model,
        args=args,
        processing_class=tokenizer,
    )
    say(
        f"sft on {len(data.train):,} rows ({'packed' if data.packed else 'not packed'}), {device}{processes()}"
    )
    say(models.describe(trainer.model, run.mode))

    # 4. Train, and save everything needed to use or reproduce the run, in one folder.
    train_and_save(
        trainer,
        checkpoint=checkpoint,
        run=run,
        args=args,
        data=data,
        tokenizer=tokenizer,
        output_dir=output_dir,
        command=command,
    )
    return trainer
