"""Data prepared with special tokens added for its chat template (a base tokenizer given
``--chat-template chatml``): train adds the same tokens, grows the model's embeddings,
trains their rows, and saves model and tokenizer so that they load, merge and train
again."""

from __future__ import annotations

import json

import pytest
import tokenizer_factory
import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    TrainerCallback,
)

from dataprep.errors import TrainError
from train.config import RunConfig
from train.merge import merge_adapter
from train.run import load_data_and_tokenizer
from train.sft import run_sft

from .conftest import conversations

pytestmark = [
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]
VOCAB = 600
ADDED = ["<|im_end|>", "<|im_start|>"]  # chatml's markers, in the order it writes them


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A base tokenizer (no chat markers, no template), and tied and untied tiny models
    of its vocabulary, each folder holding the tokenizer."""
    root = tmp_path_factory.mktemp("bare")
    tok = tokenizer_factory.family_tokenizer("", vocab_size=VOCAB)
    tok.chat_template = None
    assert len(tok) == VOCAB
    tokenizer_factory.save_tokenizer(tok, root / "tok")
    for tied in (True, False):
        torch.manual_seed(0)
        config = LlamaConfig(
            vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
            num_attention_heads=2, num_key_value_heads=1, head_dim=16,
            max_position_embeddings=512, tie_word_embeddings=tied,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.eos_token_id,
        )  # fmt: skip
        folder = root / ("tied" if tied else "untied")
        LlamaForCausalLM(config).save_pretrained(folder)
        tok.save_pretrained(folder)
    return root


@pytest.fixture(scope="module")
def prepared(bare, tmp_path_factory):
    from dataprep.prepare.pipeline import PrepareOptions, prepare

    folder = tmp_path_factory.mktemp("prepared")
    source = folder / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in conversations(16, 0)))
    result = prepare(
        PrepareOptions(
            inputs=[str(source)],
            tokenizer=str(bare / "tok"),
            chat_template="chatml",
            max_length=128,
            output=str(folder / "out"),
        )
    )
    assert result.manifest["tokenizer"]["added_tokens"] == [
        {"content": t, "id": VOCAB + i} for i, t in enumerate(ADDED)
    ]
    return folder / "out"


class Rows(TrainerCallback):
    """The added tokens' rows of the input and output embeddings, at the start and end."""

    def __init__(self):
        self.seen = []

    def _take(self, model):
        ids = list(range(VOCAB, VOCAB + len(ADDED)))
        return (
            model.get_input_embeddings().weight[ids].detach().clone(),
            model.get_output_embeddings().weight[ids].detach().clone(),
        )

    def on_train_begin(self, args, state, control, model=None, **kw):
        self.seen.append(self._take(model))

    def on_train_end(self, args, state, control, model=None, **kw):
        self.seen.append(self._take(model))


def train(data, model, output, *, mode="lora", callbacks=(), tokenizer=None):
    settings = {
        "max_steps": 3,
        "per_device_train_batch_size": 4,
        "save_strategy": "no",
        "disable_tqdm": True,
        "learning_rate": 1e-2,
    }
    run = RunConfig(model=str(model), tokenizer=tokenizer, mode=mode, trl=settings)
    return run_sft(data, run, output, callbacks=callbacks)


@pytest.mark.parametrize(("mode", "tied"), [("lora", True), ("lora", False), ("full", False)])
def test_the_added_tokens_train_and_the_run_saves_them(prepared, bare, tmp_path, mode, tied):
    rows = Rows()
    model_dir = bare / ("tied" if tied else "untied")
    trainer = train(prepared, model_dir, tmp_path / "run", mode=mode, callbacks=[rows])
    model = trainer.model
    assert model.get_input_embeddings().weight.shape[0] == VOCAB + len(ADDED)
    (emb0, out0), (emb1, out1) = rows.seen
    # Both the reading (embeddings) and the writing (output layer) of the new tokens learn.
    assert not torch.equal(emb0, emb1)
    assert not torch.equal(out0, out1)

    saved = AutoTokenizer.from_pretrained(str(tmp_path / "run"))
    assert saved.convert_tokens_to_ids(ADDED) == [VOCAB, VOCAB + 1]
    if mode == "full":
        assert json.loads((tmp_path / "run" / "config.json").read_text())["vocab_size"] == 602
        return
    merged = merge_adapter(tmp_path / "run", tmp_path / "merged")
    loaded = AutoModelForCausalLM.from_pretrained(str(merged))
    assert loaded.get_input_embeddings().weight.shape[0] == VOCAB + len(ADDED)
    # The merged rows are the trained ones.
    ids = list(range(VOCAB, VOCAB + len(ADDED)))
    assert torch.allclose(loaded.get_input_embeddings().weight[ids], emb1.to(torch.float32))
    assert torch.allclose(loaded.get_output_embeddings().weight[ids], out1.to(torch.float32))


def test_a_runs_saved_tokenizer_trains_the_data_again(prepared, bare, tmp_path):
    """The saved tokenizer already has the tokens, at the recorded ids."""
    train(prepared, bare / "tied", tmp_path / "first")
    trainer = train(prepared, bare / "tied", tmp_path / "again", tokenizer=str(tmp_path / "first"))
    assert len(trainer.processing_class) == VOCAB + len(ADDED)


def test_a_tokenizer_that_gives_other_ids_is_refused(prepared, bare, tmp_path):
    tok = AutoTokenizer.from_pretrained(str(bare / "tok"))
    tok.add_special_tokens({"additional_special_tokens": ["<|other|>"]})
    tok.save_pretrained(tmp_path / "other")
    run = RunConfig(model=str(bare / "tied"), tokenizer=str(tmp_path / "other"))
    with pytest.raises(TrainError) as e:
        load_data_and_tokenizer(prepared, run, kind="sft")
    assert str(e.value) == (
        f"{prepared}: the data was prepared with '<|im_end|>' added as token 600, but this "
        "tokenizer gives it id 601: it is not the tokenizer the data was prepared with"
    )


@pytest.mark.parametrize("kind", ["dpo", "kto"])
def test_preference_runs_grow_and_train_the_added_tokens_too(bare, tmp_path, kind):
    """DPO and KTO load their model through the same step as SFT: embeddings grown for
    the template's tokens, whose rows train beside the adapter."""
    from dataprep.prepare.pipeline import PrepareOptions, prepare
    from train.dpo import run_dpo
    from train.kto import run_kto

    from .conftest import kto_answers

    rows = kto_answers(8, 0)
    if kind == "dpo":
        rows = [
            {"prompt": [good["messages"][0]], "chosen": [good["messages"][1]],
             "rejected": [bad["messages"][1]]}
            for good, bad in zip(rows[:8], rows[8:], strict=True)
        ]  # fmt: skip
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "prepared"
    prepare(
        PrepareOptions(inputs=[str(source)], tokenizer=str(bare / "tok"), chat_template="chatml",
                       max_length=128, output=str(out), kind=kind)
    )  # fmt: skip
    settings = {"max_steps": 2, "per_device_train_batch_size": 4, "save_strategy": "no",
                "disable_tqdm": True, "learning_rate": 1e-2, "use_cpu": True}  # fmt: skip
    run = RunConfig(model=str(bare / "untied"), mode="lora", trl=settings)
    rows_seen = Rows()
    recipe = run_dpo if kind == "dpo" else run_kto
    trainer = recipe(out, run, tmp_path / "run", callbacks=[rows_seen])
    assert trainer.model.get_input_embeddings().weight.shape[0] == VOCAB + len(ADDED)
    (emb0, _), (emb1, _) = rows_seen.seen
    assert not torch.equal(emb0, emb1)
