"""Simple preference optimisation (SimPO) on prepared DPO data, top to bottom.

    train simpo DIR --model PATH -o OUT [--qlora | --full] [--config FILE] [--set key=value]

SimPO needs no reference model: its reward is the answer's mean log-probability per
token, and the loss asks the chosen one to beat the rejected one by a margin gamma. TRL
1.16 computes it in trl.experimental's ``CPOTrainer`` with ``loss_type: simpo``::

    loss = mean(-log sigmoid(beta * (logp(chosen) - logp(rejected)) - gamma)) + cpo_alpha * NLL(chosen)
    logp(y) = the mean log-probability of y's tokens given the prompt

Defaults (``train.config.KIND_DEFAULTS``): ``cpo_alpha: 0`` (pure SimPO, as TRL's docs
set it; a positive value adds CPO's NLL term on the chosen answers), ``beta: 2.0`` and
``simpo_gamma: 1.0``, the scale of the SimPO paper (beta 2.0 to 2.5, gamma/beta about
0.5) rather than CPO's beta 0.1, which is meant for summed log-probabilities.
``loss_type`` stays ``simpo``: the other CPO losses are not SimPO.

The data is the prepared DPO pairs; ``CPOTrainer`` tokenizes text in ``__init__`` with
no switch to skip it, so ``PretokenizedCPOTrainer`` hands it empty stand-ins there and
trains on the prepared rows, whose batches ``train.pair_batches.PairCollator`` makes
(coupling ``cpo_tokenize_row`` in ``train/_upstream.py``; ``pyproject.toml`` pins trl).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dataprep.errors import UsageError
from train import _upstream, models, processes, say
from train.config import RunConfig, source_of
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
_upstream.check("cpo_tokenize_row")


class PretokenizedCPOTrainer(
    CountsTokens, _upstream.TokenizedInInit, _upstream.trl_experimental("cpo").CPOTrainer
):
    """``CPOTrainer`` for prepared pairs: its tokenization in ``__init__`` skipped, the
    batches made by ``PairCollator``, and ``num_tokens`` logged."""

    coupling = "cpo_tokenize_row"


def run_simpo(
    data_dir: str | Path,
    run: RunConfig,
    output_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    command: str = "train simpo",
) -> Any:
    """Train, save the adapter (or model) with its tokenizer, config and manifest in
    ``output_dir``; returns the trainer (its ``state.log_history`` has the losses)."""
    output_dir = Path(output_dir)

    # 1. The data (DPO pairs), and the tokenizer it was made with.
    data, tokenizer = load_data_and_tokenizer(data_dir, run, kind="simpo")

    # 2. TRL's config: our defaults for the mode and device (activation checkpointing
    # and the weights' dtype from a memory estimate on a GPU), then the user's keys.
    run, args, device, checkpoint = configure(run, data, "simpo", output_dir, resume=resume)
    if args.loss_type != "simpo":
        where = source_of(run.sources, "loss_type", "config")
        raise UsageError(
            f"{where}: loss_type: `train simpo` trains the simpo loss, not {args.loss_type!r}; "
            "leave loss_type unset (set alpha for AlphaPO's reward shaping)"
        )
    # The batches come from the prepared columns (PairCollator), which must reach it; the
    # length is the one prepare applied (TRL reads it only to generate during eval).
    args.remove_unused_columns = False
    args.max_length = data.manifest.max_length

    # 3. The policy alone: SimPO has no reference model.
    model = load_model(run, tokenizer, device)
    trainer = make_trainer(
        PretokenizedCPOTrainer,
        run,
        callbacks,
        data,
        model=model,
        args=args,
        processing_class=tokenizer,
        data_collator=PairCollator(tokenizer.pad_token_id),
    )
    say(
        f"simpo on {len(data.train):,} pairs, beta {args.beta:g}, gamma {args.simpo_gamma:g}, "
        f"cpo_alpha {args.cpo_alpha:g}, {device}{processes()}"
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
