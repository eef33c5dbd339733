"""Kahneman-Tversky optimisation (KTO) on prepared data, top to bottom.

    train kto DIR --model PATH -o OUT [--qlora | --full] [--config FILE] [--set key=value]

The data holds ``prompt_ids``, ``completion_ids`` and a boolean ``label``: exactly the
columns TRL's ``KTOTrainer`` makes in its own preparation step, which it runs on every
dataset it is given and has no switch to skip (TRL 1.16). ``PretokenizedKTOTrainer``
skips its tokenization and keeps the one step that is not tokenization: each row gets
the completion of its neighbour as ``KL_completion_ids``, from which KTO estimates its
KL term. ``pyproject.toml`` pins ``trl>=1.16,<1.17`` because that relies on TRL's
internals (coupling ``kto_prepare_dataset`` in ``train/_upstream.py``).

The order. ``KTOTrainer`` trains in the dataset's order (``KTOConfig``'s
``train_sampling_strategy`` is ``sequential``): the KL pairs are fixed per batch, so the
batches must be the ones they were made for. A prepared folder keeps the order of its
input, which is often grouped (all desirable answers, then all undesirable ones; one
source after another), so the training rows are shuffled once here, seeded by
``data_seed`` (or ``seed``), before they are paired. A resumed run makes the same order.

The reference model: for LoRA and QLoRA the base itself, with the adapter switched off
(TRL does this when there is no reference model); for full fine-tuning a frozen copy
loaded here; with ``precompute_ref_log_probs: true`` the reference log-probabilities are
computed once before training (and cached beside the data) and no reference model is
kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from trl import KTOTrainer

from train import _upstream, models, processes, say
from train.config import RunConfig
from train.run import (
    configure,
    load_data_and_tokenizer,
    load_model,
    load_reference,
    make_trainer,
    train_and_save,
)


class PretokenizedKTOTrainer(_upstream.TakesPreparedData, KTOTrainer):
    """``KTOTrainer`` for data that is already tokenized.

    Of TRL's dataset preparation (extract the prompt, unpair pairs, add EOS, apply the
    chat template, tokenize, drop rows whose prompt fills ``max_length``, add the KL
    completions, warn about the label balance: TRL 1.16) only the KL completions are
    left to do: ``dataprep prepare`` did the rest, with the length policy of its manifest,
    and ``run_kto`` says the balance. TRL runs it from ``__init__`` (after
    ``calculate_KL`` is set) and from ``evaluate``, so both see the data as prepared.
    """

    coupling = "kto_prepare_dataset"

    def prepared_dataset(self, dataset: Any, args: Any, dataset_name: str) -> Any:
        if "KL_completion_ids" in dataset.column_names:
            return dataset  # prepared already (evaluate() on a dataset from __init__)
        shuffle = dataset_name == "train"
        seed = args.data_seed if args.data_seed is not None else args.seed
        order = np.random.default_rng(seed).permutation(len(dataset)) if shuffle else None
        if not self.calculate_KL:  # apo_zero_unpaired has no KL term
            return dataset.select(order) if shuffle else dataset
        # TRL builds the KL pairs in batches of per_device_train_batch_size, the eval
        # split's too; so do we.
        return with_kl_completions(dataset, args.per_device_train_batch_size, order)


def kl_sources(count: int, batch_size: int) -> np.ndarray:
    """For each position, the position whose completion is its KL completion: TRL 1.16's
    ``add_kl_completion_ids``, which rotates completions by one within each batch of
    ``batch_size`` rows in order, ``(x1, y_n), (x2, y1), ..., (x_n, y_{n-1})``.

    >>> kl_sources(5, 2).tolist()
    [1, 0, 3, 2, 4]
    >>> kl_sources(4, 3).tolist()
    [2, 0, 1, 3]
    """
    position = np.arange(count)
    start = position - position % batch_size
    size = np.minimum(batch_size, count - start)
    return start + (position - start - 1) % size


def with_kl_completions(dataset: Any, batch_size: int, order: np.ndarray | None = None) -> Any:
    """``dataset`` in ``order`` (None: as it is), with ``KL_completion_ids``: the
    completions rotated within each batch of that order (``kl_sources``).

    The column is taken from the Arrow data directly and the order is an index mapping:
    nothing is re-tokenized, and nothing is written into the prepared folder.
    """
    import pyarrow as pa

    rows = np.arange(len(dataset)) if order is None else np.asarray(order)
    source = np.empty_like(rows)
    source[rows] = rows[kl_sources(len(rows), batch_size)]
    completions = dataset.with_format("arrow")["completion_ids"]
    kl = completions.take(pa.array(source))
    paired = dataset.add_column("KL_completion_ids", kl, feature=dataset.features["completion_ids"])
    return paired if order is None else paired.select(rows)


def balance_note(desirable: int, undesirable: int, desirable_weight: float,
                 undesirable_weight: float) -> str | None:  # fmt: skip
    """Advice when the labels are unbalanced and neither weight is in the range Eq. (8)
    of the KTO paper recommends (TRL 1.16 warns the same way in its dataset preparation,
    which is skipped here).

    >>> balance_note(100, 100, 1.0, 1.0) is None
    True
    >>> balance_note(300, 100, 1.0, 1.0)
    'note: 300 desirable and 100 undesirable answers: set EITHER desirable_weight in [0.33, 0.44] or undesirable_weight in [2.26, 3.0] (not both)'
    """
    d, u = max(desirable, 1), max(undesirable, 1)
    if d == u:
        return None
    des_low = round(u * undesirable_weight / d, 2)
    des_high = round(u * undesirable_weight / d * 1.33, 2)
    und_low = round(d * desirable_weight / u / 1.33, 2)
    und_high = round(d * desirable_weight / u, 2)
    if des_low <= desirable_weight <= des_high or und_low <= undesirable_weight <= und_high:
        return None
    return (
        f"note: {desirable:,} desirable and {undesirable:,} undesirable answers: set EITHER "
        f"desirable_weight in [{des_low}, {des_high}] or undesirable_weight in "
        f"[{und_low}, {und_high}] (not both)"
    )


def run_kto(
    data_dir: str | Path,
    run: RunConfig,
    output_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    command: str = "train kto",
) -> Any:
    """Train, save the adapter (or model) with its tokenizer, config and manifest in
    ``output_dir``; returns the trainer (its ``state.log_history`` has the losses)."""
    output_dir = Path(output_dir)

    # 1. The data, and the tokenizer it was made with.
    data, tokenizer = load_data_and_tokenizer(data_dir, run, kind="kto")
    labels = data.train.with_format("arrow")["label"].to_numpy()
    desirable = int(np.count_nonzero(labels))
    undesirable = len(data.train) - desirable

    # 2. TRL's config: our defaults for the mode and device (activation checkpointing
    # and the weights' dtype from a memory estimate on a GPU), then the user's keys.
    run, args, device, checkpoint = configure(run, data, "kto", output_dir, resume=resume)

    # 3. The policy, and for full fine-tuning its frozen reference.
    model = load_model(run, tokenizer, device)
    reference = load_reference(run, args, tokenizer, device)
    trainer = make_trainer(
        PretokenizedKTOTrainer,
        run,
        callbacks,
        data,
        model=model,
        ref_model=reference,
        args=args,
        processing_class=tokenizer,
    )
    say(
        f"kto on {len(data.train):,} answers ({desirable:,} desirable, {undesirable:,} "
        f"undesirable), beta {args.beta:g}, {device}{processes()}"
    )
    note = balance_note(desirable, undesirable, args.desirable_weight, args.undesirable_weight)
    if note:
        say(note)
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
