"""`train reward` on prepared DPO pairs: the sequences TRL's own tokenization makes, the
Bradley-Terry loss of ``train/reward.py`` computed here from each sequence scored alone,
a head that trains (and is saved) beside a LoRA adapter, and last-token scoring that the
unpadding fast path keeps."""

from __future__ import annotations

import json
import math

import pytest
import torch

from train.config import RunConfig
from train.reward import run_reward

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def train(data, output, model, tokenizer, *, mode="lora", **trl):
    settings = {"logging_steps": 1, "save_strategy": "no", "disable_tqdm": True, **trl}
    run = RunConfig(model=str(model), tokenizer=str(tokenizer), mode=mode, trl=settings)
    return run_reward(data, run, output)


def logged(trainer, key):
    return [entry[key] for entry in trainer.state.log_history if key in entry]


@pytest.fixture(scope="module")
def zero_head_model(tmp_path_factory, tiny_model):
    """The tiny model saved as a reward model whose score head is all zeros."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_model), num_labels=1)
    torch.nn.init.zeros_(model.score.weight)
    folder = tmp_path_factory.mktemp("models") / "zero-head"
    model.save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_equal_scores_give_log_2(tmp_path, dpo_data, zero_head_model, tiny_tokenizer, mode):
    # A zero head scores every sequence 0: each pair's loss is -log sigmoid(0) = log 2.
    trainer = train(
        dpo_data,
        tmp_path / "run",
        zero_head_model,
        tiny_tokenizer,
        mode=mode,
        max_steps=1,
        per_device_train_batch_size=4,
    )
    assert logged(trainer, "loss")[0] == pytest.approx(math.log(2), abs=1e-6)
    assert logged(trainer, "accuracy")[0] == 0.0  # a tie is not a win


def test_first_loss_is_its_closed_form_and_the_head_trains(
    tmp_path, dpo_data, tiny_model, tiny_tokenizer
):
    # One step over every pair: the loss from each sequence scored alone (its last
    # token), with the weights it was computed with (learning rate 0 keeps them).
    trainer = train(
        dpo_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        max_steps=1,
        per_device_train_batch_size=32,
        learning_rate=0.0,
    )
    model = trainer.model.eval()

    def score(ids):
        with torch.no_grad():
            return model(input_ids=torch.tensor([ids])).logits[0, 0]

    rows = list(trainer.train_dataset)
    losses = [
        -torch.nn.functional.logsigmoid(
            score(r["prompt_ids"] + r["chosen_ids"]) - score(r["prompt_ids"] + r["rejected_ids"])
        )
        for r in rows
    ]
    assert logged(trainer, "loss")[0] == pytest.approx(float(torch.stack(losses).mean()), rel=1e-5)
    # The new head trains in full beside the adapter, and is saved with it.
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("score" in n for n in trainable) and any("lora_" in n for n in trainable)
    adapter = json.loads((tmp_path / "run" / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS"
    assert "score" in adapter["modules_to_save"]


def test_loss_moves_and_the_chosen_answers_win(tmp_path, dpo_data, tiny_model, tiny_tokenizer):
    trainer = train(
        dpo_data,
        tmp_path / "run",
        tiny_model,
        tiny_tokenizer,
        max_steps=12,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
    )
    losses = logged(trainer, "loss")
    assert len(losses) == 12 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.01, losses
    assert set(trainer.train_dataset.column_names) == {"prompt_ids", "chosen_ids", "rejected_ids"}
    assert "kind: reward" in (tmp_path / "run" / "train_config.yaml").read_text()


def test_the_sequences_are_the_ones_trls_tokenization_makes(dpo_data, tokenizer):
    """TRL's own RewardTrainer preparation of the raw pairs (conversational: prompt +
    answer through the chat template) gives, row for row, prompt_ids + chosen_ids."""
    import datasets
    from trl import RewardConfig, RewardTrainer

    from train.pair_batches import RewardCollator

    raw = [json.loads(line) for line in dpo_data.with_suffix(".jsonl").read_text().splitlines()]
    args = RewardConfig(
        output_dir="unused",
        max_length=None,
        report_to="none",
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
    )
    # _prepare_dataset reads nothing of the trainer it belongs to.
    theirs = RewardTrainer._prepare_dataset(
        None, datasets.Dataset.from_list(raw), tokenizer, args, "train"
    )
    ours = datasets.load_from_disk(str(dpo_data))
    assert len(theirs) == len(ours) == len(raw)
    batch = RewardCollator(tokenizer.pad_token_id)(list(ours))
    for i, row in enumerate(theirs):
        for half, name in ((0, "chosen_ids"), (len(raw), "rejected_ids")):
            mask = batch["attention_mask"][half + i].bool()
            assert batch["input_ids"][half + i][mask].tolist() == row[name]


def test_unpadding_keeps_the_last_token_score(tiny_model):
    """The varlen fast path unpads the backbone's input and pads its output back: a
    right-padded batch scores each sequence as it scores alone."""
    from transformers import AutoModelForSequenceClassification

    from train import fastpath

    torch.manual_seed(0)
    plain = AutoModelForSequenceClassification.from_pretrained(
        str(tiny_model), num_labels=1, attn_implementation="sdpa"
    )
    fast = AutoModelForSequenceClassification.from_pretrained(
        str(tiny_model), num_labels=1, attn_implementation=fastpath.register_varlen_attention()
    )
    fast.score.load_state_dict(plain.score.state_dict())
    notes = fastpath.adapt_model(fast, device_type="cpu", packed=False)
    assert any("varlen" in note for note in notes)
    pad = plain.config.pad_token_id
    sequences = [[5, 9, 14, 3, 7, 11], [6, 8, 12]]
    ids = torch.tensor([s + [pad] * (6 - len(s)) for s in sequences])
    mask = (torch.arange(6)[None] < torch.tensor([[6], [3]])).long()
    with torch.no_grad():
        alone = torch.stack([plain(input_ids=torch.tensor([s])).logits[0, 0] for s in sequences])
        batched = fast(input_ids=ids, attention_mask=mask).logits[:, 0]
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-4)


def test_merged_reward_adapter_keeps_its_head(tmp_path, dpo_data, tiny_model, tiny_tokenizer):
    """`train merge` of a reward adapter gives a sequence classifier that scores as the
    adapter on its base does (the trained score head kept, not dropped)."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from train.merge import merge_adapter

    train(dpo_data, tmp_path / "run", tiny_model, tiny_tokenizer, max_steps=3, learning_rate=3e-3)
    merged = merge_adapter(tmp_path / "run", tmp_path / "merged", dtype="float32")
    config = json.loads((merged / "config.json").read_text())
    assert config["architectures"] == ["LlamaForSequenceClassification"]
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer))
    ids = torch.tensor([tokenizer.encode("What is 2 + 3? 5")])
    base = AutoModelForSequenceClassification.from_pretrained(str(tiny_model), num_labels=1)
    base.config.pad_token_id = tokenizer.pad_token_id
    adapted = PeftModel.from_pretrained(base, str(tmp_path / "run")).eval()
    alone = AutoModelForSequenceClassification.from_pretrained(str(merged)).eval()
    with torch.no_grad():
        want, got = adapted(input_ids=ids).logits, alone(input_ids=ids).logits
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
