"""Packed documents never attend to each other.

A batch is taken from the data loader of an ``SFTTrainer`` built exactly as ``train sft``
builds it (our ``trainer_config`` for packed data, TRL's padding-free collator turning
``seq_lengths`` into restarting ``position_ids``), run through the model on the attention
path ``train.fastpath`` picks for the CPU, and compared with each document run alone.
"""

from __future__ import annotations

import itertools

import datasets
import pytest
import torch

from train import fastpath
from train.config import RunConfig, trainer_config

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def load_tiny_model(path):
    from transformers import AutoModelForCausalLM

    implementation = fastpath.attention_implementation("cpu", packed=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(path), attn_implementation=implementation, dtype=torch.float32
    )
    fastpath.adapt_model(model, device_type="cpu", packed=True)
    return model.eval()


def trainer_batch(model, tokenizer, data_dir, batch_size, tmp_path):
    """The first training batch, as SFTTrainer feeds it to the model."""
    from trl import SFTTrainer

    run = RunConfig(mode="full", trl={"per_device_train_batch_size": batch_size})
    args = trainer_config(run, "sft", output_dir=str(tmp_path), device_type="cpu", packed=True)
    train = datasets.load_from_disk(str(data_dir))
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
    return next(iter(trainer.get_train_dataloader()))


@pytest.mark.parametrize("batch_size", [1, 3])
def test_packed_documents_match_documents_run_alone(
    tiny_model, sft_packed, tokenizer, tmp_path, batch_size
):
    model = load_tiny_model(tiny_model)
    batch = trainer_batch(model, tokenizer, sft_packed, batch_size, tmp_path)
    # padding-free: the rows are flattened into one sequence whose positions restart
    # at every document; there is no attention mask to fall back on.
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    assert len(starts) > batch_size  # several documents per packed row

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        packed = model(**inputs).logits[0]
        bounds = [*starts, batch["input_ids"].shape[1]]
        for start, end in itertools.pairwise(bounds):
            alone = model(input_ids=batch["input_ids"][:, start:end]).logits[0]
            torch.testing.assert_close(packed[start:end], alone, atol=1e-5, rtol=1e-5)


def test_the_check_can_fail_without_document_boundaries(
    tiny_model, sft_packed, tokenizer, tmp_path
):
    """Control: the same packed row with plain causal attention (no restarting positions)
    does not match its later documents run alone, so the test above has teeth."""
    model = load_tiny_model(tiny_model)
    batch = trainer_batch(model, tokenizer, sft_packed, 1, tmp_path)
    starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
    second, end = starts[1], ([*starts, batch["input_ids"].shape[1]])[2]
    with torch.no_grad():
        causal = model(input_ids=batch["input_ids"]).logits[0]
        alone = model(input_ids=batch["input_ids"][:, second:end]).logits[0]
    assert not torch.allclose(causal[second:end], alone, atol=1e-3)
