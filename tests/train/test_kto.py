"""`train kto` on pre-tokenized labelled answers: no second tokenization, the KL pairs
TRL makes, rows shuffled once, the loss TRL's formula gives, and the same refusals as
`train dpo`.

KTO's loss (TRL 1.16, ``KTOTrainer._compute_loss``, loss_type "kto"), for a batch of
answers y_i to prompts x_i with labels d_i and weights w (desirable / undesirable):

    r_i = log pi(y_i | x_i) - log ref(y_i | x_i)                 (summed over answer tokens)
    z   = max(0, mean_i [log pi(y'_i | x_i) - log ref(y'_i | x_i)])   y'_i: a neighbour's answer
    loss_i = w_d (1 - sigmoid(beta (r_i - z)))   if d_i  else   w_u (1 - sigmoid(beta (z - r_i)))
    loss = mean_i loss_i

At the first step the policy is the reference (a LoRA adapter starts at zero; a full
fine-tune's reference is a frozen copy), so r_i = 0, z = 0 and every loss_i is its weight
times 1 - sigmoid(0) = 1/2: the first loss is (w_d n_d + w_u n_u) / (2 n).
"""

from __future__ import annotations

import json
import statistics

import pytest

from train.cli import main
from train.config import RunConfig
from train.kto import run_kto

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

BATCH = 4


def train(data, output, model, tokenizer, *, mode="lora", **trl):
    settings = {
        "per_device_train_batch_size": BATCH,
        "logging_steps": 1,
        "save_strategy": "no",
        "disable_tqdm": True,
        **trl,
    }
    run = RunConfig(model=str(model), tokenizer=str(tokenizer), mode=mode, trl=settings)
    return run_kto(data, run, output)


def logged(trainer, key):
    return [entry[key] for entry in trainer.state.log_history if key in entry]


@pytest.mark.parametrize(
    ("mode", "options"),
    [("lora", {}), ("full", {}), ("lora", {"precompute_ref_log_probs": True})],
)
def test_first_loss_is_its_closed_form(
    tmp_path, kto_data, tiny_model, tiny_tokenizer, mode, options
):
    desirable_weight, undesirable_weight = 1.5, 0.25  # unequal, so the labels count
    trainer = train(
        kto_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        mode=mode,
        max_steps=1,
        desirable_weight=desirable_weight,
        undesirable_weight=undesirable_weight,
        **options,
    )
    first = trainer.train_dataset["label"][:BATCH]  # the sampler is sequential
    n_d = sum(first)
    assert 0 < n_d < BATCH  # the grouped input was shuffled: both labels in the batch
    expected = (desirable_weight * n_d + undesirable_weight * (BATCH - n_d)) / (2 * BATCH)
    assert logged(trainer, "loss")[0] == pytest.approx(expected, abs=1e-6)
    assert logged(trainer, "kl")[0] == 0.0
    assert logged(trainer, "rewards/chosen")[0] == pytest.approx(0.0, abs=1e-6)
    assert logged(trainer, "rewards/rejected")[0] == pytest.approx(0.0, abs=1e-6)


def test_loss_moves_and_desirable_answers_gain(tmp_path, kto_data, tiny_model, tiny_tokenizer):
    trainer = train(
        kto_data, tmp_path / "run", tiny_model, tiny_tokenizer, max_steps=32, learning_rate=2e-3
    )
    losses = logged(trainer, "loss")
    assert len(losses) == 32
    assert max(abs(x - 0.5) for x in losses[2:]) > 1e-3  # it moves off 1/2
    margins = logged(trainer, "rewards/margins")  # batches with both labels
    half = len(margins) // 2
    assert statistics.mean(margins[half:]) > statistics.mean(margins[:half])
    assert statistics.mean(margins[half:]) > 0
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()
    saved = json.loads((tmp_path / "run" / "dataprep.json").read_text())
    assert saved["kind"] == "kto"


def test_data_goes_in_as_prepared_shuffled_once_and_paired(
    tmp_path, kto_data, tiny_model, tiny_tokenizer
):
    import datasets

    trainer = train(kto_data, tmp_path / "run", tiny_model, tiny_tokenizer, max_steps=1)
    data = trainer.train_dataset
    # No text columns appeared, nothing was re-tokenized: the prepared columns, plus the
    # KL completions.
    assert set(data.column_names) == {"prompt_ids", "completion_ids", "label", "KL_completion_ids"}
    prepared = datasets.load_from_disk(str(kto_data))
    key = lambda r: (tuple(r["prompt_ids"]), tuple(r["completion_ids"]), r["label"])  # noqa: E731
    assert sorted(map(key, data)) == sorted(map(key, prepared))  # the same rows...
    assert [key(r) for r in data] != [key(r) for r in prepared]  # ...in another order
    # The KL completion of each row is the answer of the row before it in its batch (the
    # first row's: the batch's last), as TRL pairs them.
    completions = data["completion_ids"]
    for start in range(0, len(data), BATCH):
        batch = range(start, min(start + BATCH, len(data)))
        for i in batch:
            before = i - 1 if i > start else batch[-1]
            assert data[i]["KL_completion_ids"] == completions[before]
    # The same seed makes the same order (what --resume relies on); another seed another.
    again = train(kto_data, tmp_path / "again", tiny_model, tiny_tokenizer, max_steps=1)
    assert again.train_dataset["completion_ids"] == completions
    other = train(kto_data, tmp_path / "other", tiny_model, tiny_tokenizer, max_steps=1, seed=1)
    assert other.train_dataset["completion_ids"] != completions


def test_a_trained_policy_gives_the_loss_of_the_formula(
    tmp_path, kto_data, tiny_model, tiny_tokenizer
):
    """Away from the reference, with the KL term above zero: the trainer's loss is the
    module docstring's formula, computed here from the model's own log-probabilities on
    each sequence alone, with the KL answers paired here (each prompt with the answer of
    the row before it in its batch)."""
    import torch

    beta, w_d, w_u = 0.5, 1.0, 1.5
    trainer = train(
        kto_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        max_steps=4,
        learning_rate=5e-3,
        beta=beta,
        desirable_weight=w_d,
        undesirable_weight=w_u,
    )
    model = trainer.model
    model.eval()
    rows = [trainer.train_dataset[i] for i in range(BATCH)]

    def logp(prompt, answer):
        ids = torch.tensor([prompt + answer])
        logits = model(input_ids=ids).logits[0, :-1].float()
        picked = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
        return picked[len(prompt) - 1 :].sum()

    def both(prompt, answer):
        with torch.no_grad():
            policy = logp(prompt, answer)
            with model.disable_adapter():
                reference = logp(prompt, answer)
        return policy - reference

    r = torch.stack([both(x["prompt_ids"], x["completion_ids"]) for x in rows])
    neighbour = [rows[(i - 1) % BATCH]["completion_ids"] for i in range(BATCH)]
    z = torch.stack([both(x["prompt_ids"], y) for x, y in zip(rows, neighbour, strict=True)])
    z = z.mean().clamp(min=0)
    assert z > 1e-3  # the KL term is in play
    labels = torch.tensor([x["label"] for x in rows])
    losses = torch.where(
        labels,
        w_d * (1 - torch.sigmoid(beta * (r - z))),
        w_u * (1 - torch.sigmoid(beta * (z - r))),
    )
    batch = trainer.data_collator(rows)
    with torch.no_grad():
        got = trainer.compute_loss(model, batch)
    assert float(got) == pytest.approx(float(losses.mean()), abs=1e-5)


def test_eval_split_is_evaluated(tmp_path, kto_with_eval, tiny_model, tiny_tokenizer):
    trainer = train(
        kto_with_eval, tmp_path / "run", tiny_model, tiny_tokenizer, max_steps=4, eval_steps=2
    )
    evaluated = [e["step"] for e in trainer.state.log_history if "eval_loss" in e]
    assert evaluated == [2, 4]
    assert "KL_completion_ids" in trainer.eval_dataset.column_names


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "data", "message"),
    [
        ("kto", "dpo_data", "this is DPO data; train it with `train dpo`"),
        ("kto", "sft_data", "this is SFT data; train it with `train sft`"),
        (
            "dpo",
            "kto_data",
            "this is KTO data; train it with `train kto` (or prepare DPO data for `train dpo`)",
        ),
        ("sft", "kto_data", "this is KTO data; train it with `train kto`"),
    ],
)
def test_the_wrong_trainer_is_a_usage_error(
    request, tmp_path, tiny_model, tiny_tokenizer, capsys, command, data, message
):
    path = request.getfixturevalue(data)
    argv = [
        command,
        path,
        "--model",
        tiny_model,
        "--tokenizer",
        tiny_tokenizer,
        "-o",
        tmp_path / "run",
    ]
    code, err = run_cli(argv, capsys)
    assert code == 2
    assert message in err
    assert not (tmp_path / "run").exists()


def test_a_model_with_another_tokenizer_is_refused(
    tmp_path, kto_data, tiny_model, tiny_tokenizer, capsys
):
    from transformers import AutoTokenizer

    other = AutoTokenizer.from_pretrained(str(tiny_tokenizer))
    other.add_tokens(["<tool_call>"], special_tokens=True)
    other.save_pretrained(str(tmp_path / "other"))
    argv = ["kto", kto_data, "--model", tiny_model, "--tokenizer", tmp_path / "other"]
    code, err = run_cli([*argv, "-o", tmp_path / "run"], capsys)
    assert code == 1
    assert f"is not the one {kto_data} was prepared with" in err and "its vocabulary differs" in err
    assert not (tmp_path / "run").exists()


def test_a_batch_of_one_is_refused_with_trls_reason(
    tmp_path, kto_data, tiny_model, tiny_tokenizer, capsys
):
    argv = ["kto", kto_data, "--model", tiny_model, "--tokenizer", tiny_tokenizer]
    argv += ["-o", tmp_path / "run", "--set", "per_device_train_batch_size=1"]
    code, err = run_cli(argv, capsys)
    assert code == 2
    assert "the trainer refused the run: Actual (not effective) batch size must be > 1" in err
