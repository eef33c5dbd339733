"""A run stopped mid-way and resumed with --resume ends where an uninterrupted run ends:
same step count, same data order, same losses."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from dataprep.errors import UsageError
from train.config import RunConfig
from train.dpo import run_dpo
from train.kto import run_kto
from train.orpo import run_orpo
from train.reward import run_reward
from train.sft import run_sft
from train.simpo import run_simpo

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

RECIPES = {
    "sft": (run_sft, "sft_packed"),
    "dpo": (run_dpo, "dpo_data"),
    "kto": (run_kto, "kto_data"),
    "orpo": (run_orpo, "dpo_data"),
    "simpo": (run_simpo, "dpo_data"),
    "reward": (run_reward, "dpo_data"),
}
# Batches of 3: the packed SFT data (22 rows) takes 8 steps an epoch, the DPO data (32
# pairs) 11, the KTO data (64 answers) 22. Stopping at 6 resumes mid-epoch; 12 steps cross
# into the second epoch (SFT, DPO), whose order comes from the restored sampler state;
# KTO's order is its shuffle, made again alike from the seed. ORPO, SimPO and the reward
# model take the DPO pairs; the reward model's new head is seeded, so both runs start alike.
SETTINGS = {
    "max_steps": 12,
    "save_steps": 3,
    "logging_steps": 1,
    "per_device_train_batch_size": 3,
    "learning_rate": 3e-3,
    "disable_tqdm": True,
}


class Crash(Exception):
    pass


class CrashAfterCheckpoint(TrainerCallback):
    """Die right after the checkpoint of step ``at`` is on disk, like a killed job."""

    def __init__(self, at):
        self.at = at

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise Crash(f"killed after step {self.at}")


def run(kind, data, output, model, tokenizer, **options):
    recipe, _ = RECIPES[kind]
    config = RunConfig(model=str(model), tokenizer=str(tokenizer), trl=dict(SETTINGS))
    return recipe(data, config, output, **options)


def losses(trainer):
    return {e["step"]: e["loss"] for e in trainer.state.log_history if "loss" in e}


@pytest.mark.parametrize("kind", sorted(RECIPES))
def test_resumed_run_matches_an_uninterrupted_one(
    request, tmp_path, tiny_model, tiny_tokenizer, kind
):
    data = request.getfixturevalue(RECIPES[kind][1])
    straight = run(kind, data, tmp_path / "straight", tiny_model, tiny_tokenizer)

    with pytest.raises(Crash):
        run(
            kind,
            data,
            tmp_path / "stopped",
            tiny_model,
            tiny_tokenizer,
            callbacks=[CrashAfterCheckpoint(6)],
        )
    assert not (tmp_path / "stopped" / "adapter_model.safetensors").exists()
    resumed = run(kind, data, tmp_path / "stopped", tiny_model, tiny_tokenizer, resume=True)

    assert resumed.state.global_step == straight.state.global_step == 12
    expected, actual = losses(straight), losses(resumed)
    assert sorted(actual) == list(range(1, 13))
    assert actual == pytest.approx(expected, rel=1e-5, abs=1e-6)
    weights = [
        load_file(tmp_path / name / "adapter_model.safetensors") for name in ("straight", "stopped")
    ]
    for key, value in weights[0].items():
        torch.testing.assert_close(weights[1][key], value, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("make_checkpoint", "resume", "message"),
    [
        (True, False, "already holds a run (checkpoint-3): pass --resume to continue it"),
        (False, True, "--resume: no checkpoint-N folder in"),
        ("finished", False, "already holds a finished run: choose another -o"),
    ],
)
def test_resume_is_explicit(
    tmp_path,
    sft_packed,
    tiny_model,
    tiny_tokenizer,
    finished_run,
    make_checkpoint,
    resume,
    message,
):
    output = tmp_path / "run"
    if make_checkpoint == "finished":  # a complete final save, its checkpoints removed
        shutil.copytree(finished_run, output, ignore=shutil.ignore_patterns("checkpoint-*"))
    elif make_checkpoint:
        (output / "checkpoint-3").mkdir(parents=True)
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run("sft", sft_packed, output, tiny_model, tiny_tokenizer, resume=resume)
