"""A reward model from prepared DPO pairs, top to bottom.

    train reward DIR --model PATH -o OUT [--qlora | --full] [--config FILE] [--set key=value]

The model is the causal LM's checkpoint loaded as a sequence classifier with one output
(``AutoModelForSequenceClassification``, ``num_labels: 1``): it scores a sequence at its
last non-padding token, through a new ``score`` head. TRL 1.16's ``RewardTrainer`` trains
it on each pair's two sequences, prompt + chosen and prompt + rejected::

    loss = mean(-log sigmoid(r(chosen) - r(rejected)))   (+ center_rewards_coefficient * mean(r^2))

With LoRA the adapter's task is sequence classification: peft trains the new head in
full beside it and saves it with the adapter.

The data is the prepared DPO pairs: ``RewardTrainer`` sends every dataset through its
``_prepare_dataset`` (skipped: coupling ``reward_prepare_dataset`` in
``train/_upstream.py``), and ``train.pair_batches.RewardCollator`` makes its batches:
prompt + chosen is exactly the sequence TRL's own tokenization makes from the same pair.

The pad token: a sequence classifier finds its last token as the last one that is not
``pad_token_id``. Where the tokenizer has no pad token of its own the pad is EOS (as in
TRL), and a sequence ending in EOS is then scored at the token before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trl import RewardTrainer

from train import _upstream, models, processes, say
from train.config import RunConfig
from train.pair_batches import RewardCollator
from train.run import (
    configure,
    load_data_and_tokenizer,
    load_model,
    make_trainer,
    train_and_save,
)


class PretokenizedRewardTrainer(_upstream.TakesPreparedData, RewardTrainer):
    """``RewardTrainer`` for prepared pairs: its tokenization skipped, the batches made by
    ``RewardCollator``."""

    coupling = "reward_prepare_dataset"


def run_reward(
    data_dir: str | Path,
    run: RunConfig,
    output_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    command: str = "train reward",
) -> Any:
    """Train, save the adapter (or model) with its tokenizer, config and manifest in
    ``output_dir``; returns the trainer (its ``state.log_history`` has the losses)."""
    output_dir = Path(output_dir)

    # 1. The data (DPO pairs), and the tokenizer it was made with.
    data, tokenizer = load_data_and_tokenizer(data_dir, run, kind="reward")

    # 2. TRL's config: our defaults for the mode and device (activation checkpointing
    # and the weights' dtype from a memory estimate on a GPU), then the user's keys.
    run, args, device, checkpoint = configure(run, data, "reward", output_dir, resume=resume)
    # The batches come from the prepared columns (RewardCollator), which must reach it.
    args.remove_unused_columns = False

    # 3. The model, with a one-output head that scores a whole sequence: seeded, so the new
    # head starts the same in every run with the same seed (as TRL seeds its own load).
    from transformers import set_seed

    set_seed(args.seed)
    model = load_model(run, tokenizer, device, reward_head=True)
    trainer = make_trainer(
        PretokenizedRewardTrainer,
        run,
        callbacks,
        data,
        model=model,
        args=args,
        processing_class=tokenizer,
        data_collator=RewardCollator(tokenizer.pad_token_id, args.pad_to_multiple_of),
    )
    say(f"reward model on {len(data.train):,} pairs, {device}{processes()}")
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
