"""The weights' dtype (``model_dtype``) and activation checkpointing, from the run config to
the model the trainer really trains."""

from __future__ import annotations

import math

import pytest
import torch

from train import models
from train.config import load_run_config
from train.sft import run_sft

pytestmark = [
    # peft reads a transformers attribute deprecated in 5.x when it wraps a model.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


@pytest.mark.parametrize(
    ("mode", "model_dtype", "expected"),
    [
        ("full", "auto", torch.float32),  # fp32 master weights, as TRL loads a model name
        ("full", "bfloat16", torch.bfloat16),
        ("full", "float32", torch.float32),
        ("lora", "auto", torch.float32),  # the CPU's compute dtype
        ("lora", "bfloat16", torch.bfloat16),
        ("lora", "float16", torch.float16),
    ],
)
def test_loaded_weights_have_the_chosen_dtype(tiny_model, mode, model_dtype, expected):
    assert models.weights_dtype(mode, "cpu", model_dtype) == expected
    model = models.load_model(
        str(tiny_model), mode=mode, device="cpu", packed=True, model_dtype=model_dtype
    )
    assert {p.dtype for p in model.parameters()} == {expected}


def test_model_init_kwargs_still_have_the_last_word(tiny_model):
    model = models.load_model(
        str(tiny_model),
        mode="full",
        device="cpu",
        packed=True,
        init_kwargs={"dtype": torch.bfloat16},
    )
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def run(data, output, model, tokenizer, sets):
    settings = [
        f"model={model}",
        f"tokenizer={tokenizer}",
        "mode=full",
        "max_steps=2",
        "per_device_train_batch_size=4",
        "logging_steps=1",
        "save_strategy=no",
        "disable_tqdm=true",
        *sets,
    ]
    return run_sft(data, load_run_config(None, settings), output)


@pytest.mark.parametrize(
    ("sets", "dtype", "checkpointing"),
    [
        ([], torch.float32, False),  # the CPU's defaults
        (["model_dtype=bfloat16", "activation_checkpointing=true"], torch.bfloat16, True),
        (["model_dtype=float32", "activation_checkpointing=false"], torch.float32, False),
    ],
)
def test_train_sft_trains_what_the_config_says(
    tmp_path, sft_packed, tiny_model, tiny_tokenizer, sets, dtype, checkpointing
):
    trainer = run(sft_packed, tmp_path / "run", tiny_model, tiny_tokenizer, sets)
    assert trainer.args.activation_checkpointing is checkpointing
    assert trainer.model.is_activation_checkpointing is checkpointing
    assert {p.dtype for p in trainer.model.parameters()} == {dtype}
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    written = (tmp_path / "run" / "train_config.yaml").read_text()
    assert ("model_dtype: bfloat16" in written) is (dtype == torch.bfloat16)


@pytest.mark.parametrize("model_dtype", ["bfloat16", "float32"])
def test_train_dpo_loads_policy_and_reference_in_the_chosen_dtype(
    tmp_path, dpo_data, tiny_model, tiny_tokenizer, model_dtype
):
    from train.dpo import run_dpo

    settings = [
        f"model={tiny_model}",
        f"tokenizer={tiny_tokenizer}",
        "mode=full",
        f"model_dtype={model_dtype}",
        "max_steps=1",
        "per_device_train_batch_size=2",
        "save_strategy=no",
        "disable_tqdm=true",
    ]
    trainer = run_dpo(dpo_data, load_run_config(None, settings), tmp_path / "run")
    expected = getattr(torch, model_dtype)
    assert {p.dtype for p in trainer.model.parameters()} == {expected}
    assert {p.dtype for p in trainer.ref_model.parameters()} == {expected}


@pytest.mark.parametrize(
    ("bf16", "fp16", "dtype"),
    [(True, False, torch.bfloat16), (False, True, torch.float16), (False, False, None)],
)
def test_a_frozen_reference_keeps_its_products_in_the_autocast_dtype(tiny_model, bf16, fp16, dtype):
    # A DPO/KTO reference beside fp32 masters: its linear weights stored in the dtype
    # autocast computes them in give the same outputs, bit for bit, under that autocast.
    from types import SimpleNamespace

    reference = models.load_model(str(tiny_model), mode="full", device="cpu", packed=True)
    reference.requires_grad_(False).eval()
    ids = torch.tensor([[1, 5, 9, 14, 3, 7, 2, 11]])
    run_dtype = dtype or torch.bfloat16
    with torch.no_grad(), torch.autocast("cpu", dtype=run_dtype, enabled=dtype is not None):
        before = reference(input_ids=ids).logits
    changed = models.frozen_in_compute_dtype(reference, SimpleNamespace(bf16=bf16, fp16=fp16))
    with torch.no_grad(), torch.autocast("cpu", dtype=run_dtype, enabled=dtype is not None):
        after = reference(input_ids=ids).logits
    assert torch.equal(before, after)
    linears = [m for m in reference.modules() if isinstance(m, torch.nn.Linear)]
    kept = {id(reference.get_input_embeddings()), id(reference.get_output_embeddings())}
    assert changed == (len([m for m in linears if id(m) not in kept]) if dtype else 0)
    assert changed > 0 or dtype is None
    for m in linears:
        want = dtype if dtype is not None and id(m) not in kept else torch.float32
        assert m.weight.dtype == want
    # The embeddings, the head and the norms keep the fp32 weights autocast never casts.
    assert reference.get_input_embeddings().weight.dtype == torch.float32
    norms = [p for n, p in reference.named_parameters() if "norm" in n]
    assert norms and {p.dtype for p in norms} == {torch.float32}
