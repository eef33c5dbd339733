"""Every DPO loss the installed TRL offers (``--set loss_type=...``) runs on prepared pairs.

The list is read from TRL's own ``DPOConfig`` (the help of its ``loss_type`` field), not
copied here, so a TRL that adds a loss adds a case; ``train.dpo`` reads the names it
accepts from ``DPOTrainer``'s code, and the two must agree.
"""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from train import _upstream
from train.cli import main
from train.config import RunConfig
from train.dpo import run_dpo

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def offered_losses() -> list[str]:
    from trl import DPOConfig

    field = next(f for f in dataclasses.fields(DPOConfig) if f.name == "loss_type")
    help_text = field.metadata["help"]
    return re.findall(r"`'(\w+)'`", help_text.partition("Possible values are:")[2])


# Settings a loss needs to run at all: EXO is a KL to smoothed labels (TRL refuses 0).
NEEDS = {"exo_pair": {"label_smoothing": 1e-3}}
LOSSES = offered_losses()


def test_the_offered_losses_are_the_ones_train_accepts():
    assert len(LOSSES) >= 15  # trl 1.16 offers 15
    assert sorted(LOSSES) == sorted(_upstream.dpo_loss_types())
    assert not set(NEEDS) - set(LOSSES)


def train(data, output, model, tokenizer, **trl):
    settings = {
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "save_strategy": "no",
        "disable_tqdm": True,
        "learning_rate": 1e-3,
        **trl,
    }
    run = RunConfig(model=str(model), tokenizer=str(tokenizer), trl=settings)
    return run_dpo(data, run, output)


@pytest.mark.parametrize(
    "loss_type",
    [*LOSSES, ["sigmoid", "sft"], ["sigmoid", "bco_pair", "sft"]],
    ids=lambda value: "+".join(value) if isinstance(value, list) else value,
)
def test_each_loss_runs_two_steps(tmp_path, dpo_data, tiny_model, tiny_tokenizer, loss_type):
    names = loss_type if isinstance(loss_type, list) else [loss_type]
    extra = {k: v for name in names for k, v in NEEDS.get(name, {}).items()}
    if isinstance(loss_type, list):
        extra["loss_weights"] = [0.8, 0.2, 1.0][: len(names)]  # MPO's example weights
    trainer = train(
        dpo_data, tmp_path / "run", tiny_model, tiny_tokenizer, loss_type=loss_type, **extra
    )
    assert trainer.args.loss_type == names
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses), losses


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["loss_type=sigmod"],
            "--set: loss_type: 'sigmod' is not a DPO loss of this TRL; known: sigmoid, hinge",
        ),
        (
            ["loss_type=[sigmoid, kto_pair]"],
            "--set: loss_type: 'kto_pair' is not a DPO loss of this TRL",
        ),
        (
            ["loss_type=exo_pair"],
            "the trainer refused the run: Label smoothing must be greater than 0.0 when using "
            "'exo_pair' loss",
        ),
        (
            ["loss_type=[sigmoid, sft]", "loss_weights=[1.0]"],
            "`loss_weights` must have the same length as `loss_type`",
        ),
    ],
)
def test_a_loss_that_cannot_run_is_a_usage_error(
    tmp_path, dpo_data, tiny_model, tiny_tokenizer, capsys, sets, message
):
    argv = ["dpo", dpo_data, "--model", tiny_model, "--tokenizer", tiny_tokenizer]
    argv += ["-o", tmp_path / "run", *[a for s in sets for a in ("--set", s)]]
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert message in err
    assert not (tmp_path / "run").exists()
