"""`train orpo` on prepared DPO pairs: no second tokenization, and TRL's ORPO loss
(``train/orpo.py``), computed here from the model's own logits on each sequence alone:

    lp(y)     = mean over y's tokens of log p(token | prompt, y before it)
    log odds  = (lp(c) - lp(r)) - (log(1 - exp lp(c)) - log(1 - exp lp(r)))
    NLL       = token mean of -log p over prompt + chosen (every position but the first)
    loss      = NLL - beta * mean(log sigmoid(log odds))

At the first step a LoRA adapter is zero, so the policy is the base model.
"""

from __future__ import annotations

import math

import pytest
import torch

from train.config import RunConfig
from train.orpo import run_orpo

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def train(data, output, model, tokenizer, *, mode="lora", **trl):
    settings = {"logging_steps": 1, "save_strategy": "no", "disable_tqdm": True, **trl}
    run = RunConfig(model=str(model), tokenizer=str(tokenizer), mode=mode, trl=settings)
    return run_orpo(data, run, output)


def logged(trainer, key):
    return [entry[key] for entry in trainer.state.log_history if key in entry]


def token_logps(model, ids):
    """log p of each token of ``ids`` after the first, the sequence alone (no padding)."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    return torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]


def orpo_loss(model, rows, beta):
    nll_sum, nll_count, ratios = 0.0, 0, []
    for row in rows:
        prompt = row["prompt_ids"]
        lp = {}
        for name in ("chosen", "rejected"):
            full = prompt + row[f"{name}_ids"]
            picked = token_logps(model, full)
            lp[name] = picked[len(prompt) - 1 :].mean()
            if name == "chosen":
                nll_sum -= float(picked.sum())
                nll_count += len(picked)
        log_odds = (lp["chosen"] - lp["rejected"]) - (
            torch.log(-torch.expm1(lp["chosen"])) - torch.log(-torch.expm1(lp["rejected"]))
        )
        ratios.append(torch.nn.functional.logsigmoid(log_odds))
    return nll_sum / nll_count - beta * float(torch.stack(ratios).mean())


@pytest.mark.parametrize(("mode", "beta"), [("lora", 0.1), ("full", 0.5)])
def test_first_loss_is_its_closed_form(tmp_path, dpo_data, tiny_model, tiny_tokenizer, mode, beta):
    # One step over every pair with no update (learning rate 0): the model the loss was
    # computed with is the one left, for the formula to run on.
    trainer = train(
        dpo_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        mode=mode,
        max_steps=1,
        per_device_train_batch_size=32,
        learning_rate=0.0,
        beta=beta,
    )
    rows = list(trainer.train_dataset)
    assert len(rows) == 32
    model = trainer.model.eval()
    expected = orpo_loss(model, rows, beta)
    assert logged(trainer, "loss")[0] == pytest.approx(expected, rel=1e-5)
    tokens = sum(
        2 * len(r["prompt_ids"]) + len(r["chosen_ids"]) + len(r["rejected_ids"]) for r in rows
    )
    assert logged(trainer, "num_tokens")[0] == tokens


def test_loss_moves_and_the_data_goes_in_as_prepared(
    tmp_path, dpo_data, tiny_model, tiny_tokenizer
):
    caches = set(dpo_data.glob("cache-*"))  # other tests' (DPO's precomputed log-probs)
    trainer = train(
        dpo_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        max_steps=6,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
    )
    nll = logged(trainer, "nll_loss")
    assert len(nll) == 6 and nll[-1] < nll[0] - 0.05, nll
    assert all(math.isfinite(x) for x in logged(trainer, "loss"))
    # No text columns appeared, nothing was re-tokenized, nothing was written beside the data.
    assert set(trainer.train_dataset.column_names) == {"prompt_ids", "chosen_ids", "rejected_ids"}
    assert set(dpo_data.glob("cache-*")) == caches
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()
    assert "kind: orpo" in (tmp_path / "run" / "train_config.yaml").read_text()


def test_eval_split_is_evaluated(tmp_path, dpo_with_eval, tiny_model, tiny_tokenizer):
    trainer = train(
        dpo_with_eval,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        max_steps=4,
        eval_steps=2,
        per_device_train_batch_size=4,
    )
    evaluated = [e for e in trainer.state.log_history if "eval_loss" in e]
    assert [e["step"] for e in evaluated] == [2, 4]
    assert all("eval_rewards/margins" in e and "eval_nll_loss" in e for e in evaluated)
