"""`train simpo` on prepared DPO pairs: TRL's CPO trainer with the simpo loss
(``train/simpo.py``), computed here from the model's own logits on each sequence alone:

    lp(y) = mean over y's tokens of log p(token | prompt, y before it)
    loss  = mean(-log sigmoid(beta * (lp(c) - lp(r)) - gamma)) + cpo_alpha * NLL(chosen answers)

With a zero LoRA adapter (the first step) the policy is the base model; with equal
answer log-probabilities the first term would be -log sigmoid(-gamma).
"""

from __future__ import annotations

import math

import pytest
import torch

from train.config import RunConfig
from train.simpo import run_simpo

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def train(data, output, model, tokenizer, *, mode="lora", **trl):
    settings = {"logging_steps": 1, "save_strategy": "no", "disable_tqdm": True, **trl}
    run = RunConfig(model=str(model), tokenizer=str(tokenizer), mode=mode, trl=settings)
    return run_simpo(data, run, output)


def logged(trainer, key):
    return [entry[key] for entry in trainer.state.log_history if key in entry]


def answer_logps(model, prompt, answer):
    ids = prompt + answer
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    picked = torch.log_softmax(logits, -1).gather(1, torch.tensor(ids[1:])[:, None])[:, 0]
    return picked[len(prompt) - 1 :]


def simpo_terms(model, rows, beta, gamma):
    """The preference term and the chosen answers' NLL."""
    losses, nll_sum, nll_count = [], 0.0, 0
    for row in rows:
        chosen = answer_logps(model, row["prompt_ids"], row["chosen_ids"])
        rejected = answer_logps(model, row["prompt_ids"], row["rejected_ids"])
        margin = beta * (chosen.mean() - rejected.mean()) - gamma
        losses.append(-torch.nn.functional.logsigmoid(margin))
        nll_sum -= float(chosen.sum())
        nll_count += len(chosen)
    return float(torch.stack(losses).mean()), nll_sum / nll_count


@pytest.mark.parametrize(
    ("mode", "options", "beta", "gamma", "cpo_alpha"),
    [
        ("lora", {}, 2.0, 1.0, 0.0),  # our defaults: pure SimPO
        ("full", {"beta": 2.5, "simpo_gamma": 1.4, "cpo_alpha": 0.5}, 2.5, 1.4, 0.5),
    ],
)
def test_first_loss_is_its_closed_form(
    tmp_path, dpo_data, tiny_model, tiny_tokenizer, mode, options, beta, gamma, cpo_alpha
):
    trainer = train(
        dpo_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        mode=mode,
        max_steps=1,
        per_device_train_batch_size=32,
        learning_rate=0.0,  # the model left is the one the loss was computed with
        **options,
    )
    args = trainer.args
    assert (args.loss_type, args.beta, args.simpo_gamma, args.cpo_alpha) == (
        "simpo",
        beta,
        gamma,
        cpo_alpha,
    )
    rows = list(trainer.train_dataset)
    preference, nll = simpo_terms(trainer.model.eval(), rows, beta, gamma)
    assert logged(trainer, "loss")[0] == pytest.approx(preference + cpo_alpha * nll, rel=1e-5)
    # The random tiny model gives both answers about the same mean log-probability, so the
    # preference term sits near its value at equal ones, -log sigmoid(-gamma).
    assert preference == pytest.approx(math.log1p(math.exp(gamma)), abs=0.05)


def test_loss_moves_and_margins_grow(tmp_path, dpo_data, tiny_model, tiny_tokenizer):
    trainer = train(
        dpo_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        max_steps=8,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
    )
    losses = logged(trainer, "loss")
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses)
    assert min(losses[4:]) < losses[0] - 0.01, losses
    margins = logged(trainer, "rewards/margins")
    assert sum(margins[4:]) / 4 > sum(margins[:4]) / 4, margins
    assert set(trainer.train_dataset.column_names) == {"prompt_ids", "chosen_ids", "rejected_ids"}
    assert "kind: simpo" in (tmp_path / "run" / "train_config.yaml").read_text()
