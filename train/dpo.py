"""Direct preference optimisation on prepared data, top to bottom.

    train dpo DIR --model PATH -o OUT [--qlora | --full] [--config FILE] [--set key=value]

The data holds ``prompt_ids``, ``chosen_ids`` and ``rejected_ids``: exactly the columns
TRL's ``DPOTrainer`` makes in its own tokenization step, which it runs on every dataset
it is given and has no switch to skip (TRL 1.16). ``PretokenizedDPOTrainer`` skips it and
nothing else; ``pyproject.toml`` pins ``trl>=1.16,<1.17`` because that relies on TRL's
internals (coupling ``dpo_prepare_dataset`` in ``train/_upstream.py``).

The reference model: for LoRA and QLoRA the base itself, with the adapter switched off
(TRL does this when there is no reference model); for full fine-tuning a frozen copy
loaded here; with ``precompute_ref_log_probs: true`` the reference log-probabilities are
computed once before training (and cached beside the data, keyed by data and model) and
no reference model is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trl import DPOTrainer

from dataprep.errors import UsageError
from train import _upstream, models, processes, say
from train.config import RunConfig, source_of
from train.run import (
    configure,
    load_data_and_tokenizer,
    load_model,
    load_reference,
    make_trainer,
    train_and_save,
)


class PretokenizedDPOTrainer(_upstream.TakesPreparedData, DPOTrainer):
    """``DPOTrainer`` for data that is already tokenized.

    TRL's dataset preparation (extract the prompt, add EOS, apply the chat template,
    tokenize) is what ``dataprep prepare`` already did, with the masks and length policy
    of its manifest; the columns it would produce are the columns we have, so the data
    goes to training and evaluation as it is (``train._upstream.TakesPreparedData``).
    """

    coupling = "dpo_prepare_dataset"


def check_loss_types(run: RunConfig, args: Any) -> None:
    """Refuse a ``loss_type`` the installed TRL does not compute, before anything loads:
    ``DPOConfig`` takes any name and ``DPOTrainer`` fails on it only at the first step.
    Every loss TRL 1.16 has runs on prepared pairs (``tests/train/test_dpo_losses.py``);
    the settings some need (``exo_pair``: ``label_smoothing`` above 0) TRL checks itself."""
    known = _upstream.dpo_loss_types()  # empty where TRL's source is not installed
    unknown = [name for name in args.loss_type if name not in known]
    if known and unknown:
        where = source_of(run.sources, "loss_type", "config")
        raise UsageError(
            f"{where}: loss_type: {', '.join(map(repr, unknown))} is not a DPO loss of this "
            f"TRL; known: {', '.join(known)}"
        )


def run_dpo(
    data_dir: str | Path,
    run: RunConfig,
    output_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    command: str = "train dpo",
) -> Any:
    """Train, save the adapter (or model) with its tokenizer, config and manifest in
    ``output_dir``; returns the trainer (its ``state.log_history`` has the losses)."""
    output_dir = Path(output_dir)

    # 1. The data, and the tokenizer it was made with.
    data, tokenizer = load_data_and_tokenizer(data_dir, run, kind="dpo")

    # 2. TRL's config: our defaults for the mode and device (activation checkpointing
    # and the weights' dtype from a memory estimate on a GPU), then the user's keys.
    run, args, device, checkpoint = configure(run, data, "dpo", output_dir, resume=resume)
    check_loss_types(run, args)

    # 3. The policy, and for full fine-tuning its frozen reference.
    model = load_model(run, tokenizer, device)
    reference = load_reference(run, args, tokenizer, device)
    trainer = make_trainer(
        PretokenizedDPOTrainer,
        run,
        callbacks,
        data,
        model=model,
        ref_model=reference,
        args=args,
        processing_class=tokenizer,
    )
    say(f"dpo on {len(data.train):,} pairs, beta {args.beta:g}, {device}{processes()}")
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
