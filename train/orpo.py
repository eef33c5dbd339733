"""Odds-ratio preference optimisation (ORPO) on prepared DPO data, top to bottom.

    train orpo DIR --model PATH -o OUT [--qlora | --full] [--config FILE] [--set key=value]

ORPO needs no reference model: its loss is the chosen answer's negative log-likelihood
plus ``beta`` times an odds-ratio term, TRL 1.16's ``ORPOTrainer`` (trl.experimental)::

    loss = NLL(prompt + chosen) - beta * mean(log sigmoid(log odds(chosen) - log odds(rejected)))
    log odds(y) = log p(y) - log(1 - p(y)),  log p(y) = the mean log-probability of y's tokens

(TRL's NLL runs over the prompt and the answer, as its code says.) The data is the
prepared DPO pairs; ``ORPOTrainer`` tokenizes text in ``__init__`` with no switch to skip
it, so ``PretokenizedORPOTrainer`` hands it empty stand-ins there and trains on the
prepared rows, whose batches ``train.pair_batches.PairCollator`` makes (coupling
``orpo_tokenize_row`` in ``train/_upstream.py``; ``pyproject.toml`` pins trl).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from train import _upstream, models, processes, say
from train.config import RunConfig
from train.pair_batches import CountsTokens, PairCollator
from train.run import (
    configure,
    load_data_and_tokenizer,
    load_model,
    make_trainer,
    train_and_save,
)

# trl.experimental's trainers are imported here, once their coupling is checked: a TRL
# that changed stops the command with the coupling's message, not an ImportError.
_upstream.check("orpo_tokenize_row")


class PretokenizedORPOTrainer(
    CountsTokens, _upstream.TokenizedInInit, _upstream.trl_experimental("orpo").ORPOTrainer
):
    """``ORPOTrainer`` for prepared pairs: its tokenization in ``__init__`` skipped, the
    batches made by ``PairCollator``, and ``num_tokens`` logged."""

    coupling = "orpo_tokenize_row"


def run_orpo(
    data_dir: str | Path,
    run: RunConfig,
    output_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    command: str = "train orpo",
) -> Any:
    """Train, save the adapter (or model) with its tokenizer, config and manifest in
    ``output_dir``; returns the trainer (its ``state.log_history`` has the losses)."""
    output_dir = Path(output_dir)

    # 1. The data (DPO pairs), and the tokenizer it was made with.
    data, tokenizer = load_data_and_tokenizer(data_dir, run, kind="orpo")

    # 2. TRL's config: our defaults for the mode and device (activation checkpointing
    # and the weights' dtype from a memory estimate on a GPU), then the user's keys.
    run, args, device, checkpoint = configure(run, data, "orpo", output_dir, resume=resume)
    # The batches come from the prepared columns (PairCollator), which must reach it; the
    # length is the one prepare applied (TRL reads it only to generate during eval).
    args.remove_unused_columns = False
    args.max_length = data.manifest.max_length

    # 3. The policy alone: ORPO has no reference model.
    model = load_model(run, tokenizer, device)
    trainer = make_trainer(
        PretokenizedORPOTrainer,
        run,
        callbacks,
        data,
        model=model,
        args=args,
        processing_class=tokenizer,
        data_collator=PairCollator(tokenizer.pad_token_id),
    )
    say(f"orpo on {len(data.train):,} pairs, beta {args.beta:g}, {device}{processes()}")
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
