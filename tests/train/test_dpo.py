"""`train dpo` on pre-tokenized pairs: no second tokenization, the reference model each
mode calls for, and a preference the tiny model actually learns."""

from __future__ import annotations

import math
import statistics

import pytest

from train.config import RunConfig
from train.dpo import run_dpo

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def train(data, output, model, tokenizer, *, mode="lora", **trl):
    settings = {
        "per_device_train_batch_size": 4,
        "logging_steps": 1,
        "save_strategy": "no",
        "disable_tqdm": True,
        **trl,
    }
    run = RunConfig(model=str(model), tokenizer=str(tokenizer), mode=mode, trl=settings)
    return run_dpo(data, run, output)


def logged(trainer, key):
    return [entry[key] for entry in trainer.state.log_history if key in entry]


def test_lora_first_loss_is_ln2_and_margins_grow(tmp_path, dpo_data, tiny_model, tiny_tokenizer):
    trainer = train(
        dpo_data, tmp_path / "run", tiny_model, tiny_tokenizer, max_steps=32, learning_rate=2e-3
    )
    # The adapter starts at zero: the policy is the reference, every pair scores ln 2.
    assert logged(trainer, "loss")[0] == pytest.approx(math.log(2), abs=1e-4)
    margins = logged(trainer, "rewards/margins")
    assert len(margins) == 32
    assert statistics.mean(margins[-8:]) > statistics.mean(margins[:8]) + 0.05, margins
    assert statistics.mean(margins[-8:]) > 0
    # The data went in as prepared: no text columns appeared, nothing was re-tokenized.
    assert set(trainer.train_dataset.column_names) == {"prompt_ids", "chosen_ids", "rejected_ids"}
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()


def test_full_fine_tune_keeps_a_frozen_reference(tmp_path, dpo_data, tiny_model, tiny_tokenizer):
    trainer = train(
        dpo_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        mode="full",
        max_steps=3,
        learning_rate=1e-4,
    )
    reference = trainer.accelerator.unwrap_model(trainer.ref_model)
    assert reference is not trainer.model
    assert not any(p.requires_grad for p in reference.parameters())
    assert logged(trainer, "loss")[0] == pytest.approx(math.log(2), abs=1e-4)
    assert (tmp_path / "run" / "model.safetensors").is_file()


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_precomputed_reference_log_probs(tmp_path, dpo_data, tiny_model, tiny_tokenizer, mode):
    trainer = train(
        dpo_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        mode=mode,
        max_steps=2,
        precompute_ref_log_probs=True,
    )
    assert trainer.ref_model is None  # no reference model kept in memory
    assert {"ref_chosen_logps", "ref_rejected_logps"} <= set(trainer.train_dataset.column_names)
    assert logged(trainer, "loss")[0] == pytest.approx(math.log(2), abs=1e-4)


def test_eval_split_is_evaluated(tmp_path, dpo_with_eval, tiny_model, tiny_tokenizer):
    trainer = train(
        dpo_with_eval, tmp_path / "run", tiny_model, tiny_tokenizer, max_steps=4, eval_steps=2
    )
    evaluated = [e["step"] for e in trainer.state.log_history if "eval_loss" in e]
    assert evaluated == [2, 4]
    assert all("eval_rewards/margins" in e for e in trainer.state.log_history if "eval_loss" in e)
