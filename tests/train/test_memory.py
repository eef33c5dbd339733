"""The memory estimate and the defaults chosen from it: activation checkpointing and the
weights' dtype, decided before the model loads, the user's settings kept."""

from __future__ import annotations

import pytest

from train import memory
from train.memory import GIB, ModelShape, choose, estimate, model_shape

# The 1B Llama of benchmarks/gpu_train_cli.py (Llama 3.2 1B's shape, tied embeddings).
LLAMA_1B = ModelShape(parameters=1_235_814_400, layers=16, hidden=2048, intermediate=8192)
LLAMA_1B_CONFIG = {
    "model_type": "llama",
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "vocab_size": 128256,
    "tie_word_embeddings": True,
}


def test_parameters_counted_from_the_config():
    # Llama 3.2 1B has 1,235,814,400 parameters (what `train` printed on the GPU).
    assert model_shape(LLAMA_1B_CONFIG).parameters == 1_235_814_400
    # Llama 3 8B: 8,030,261,248.
    eight = {**LLAMA_1B_CONFIG, "hidden_size": 4096, "intermediate_size": 14336}
    eight.update(num_hidden_layers=32, head_dim=128, tie_word_embeddings=False)
    assert model_shape(eight).parameters == 8_030_261_248
    assert model_shape({"text_config": LLAMA_1B_CONFIG}).parameters == 1_235_814_400
    assert model_shape({"model_type": "llama"}) is None


@pytest.mark.parametrize(
    ("weights_bytes", "checkpointing", "measured_gib"),
    [
        # Peaks of `train sft --full` on one H200, 20 steps of about 32.8k tokens
        # (BENCHMARKS.md, issue 5, "the real command").
        (4, False, 67.0),
        (2, False, 47.6),
        (4, True, 26.4),
    ],
)
def test_estimate_is_near_the_measured_peaks(weights_bytes, checkpointing, measured_gib):
    need = estimate(LLAMA_1B, mode="full", weights_bytes=weights_bytes, tokens=32_768)
    got = need.total(checkpointing=checkpointing) / GIB
    # Within 10%, and never below the measure by more than 2%: too low is what hurts.
    assert measured_gib * 0.98 <= got <= measured_gib * 1.10


def test_each_part_grows_as_it_should():
    base = estimate(LLAMA_1B, mode="full", weights_bytes=4, tokens=8192)
    double = estimate(LLAMA_1B, mode="full", weights_bytes=4, tokens=16384)
    assert double.activations == pytest.approx(2 * base.activations)
    assert double.states == base.states
    with_reference = estimate(LLAMA_1B, mode="full", weights_bytes=4, tokens=8192, reference=True)
    assert with_reference.states - base.states == pytest.approx(4 * LLAMA_1B.parameters)
    lora = estimate(LLAMA_1B, mode="lora", weights_bytes=2, tokens=8192)
    qlora = estimate(LLAMA_1B, mode="qlora", weights_bytes=2, tokens=8192)
    assert qlora.states < lora.states < base.states
    assert base.checkpointed < base.activations


def need_for(shape: ModelShape, mode: str, tokens: int):
    return lambda weights: estimate(shape, mode=mode, weights_bytes=weights, tokens=tokens)


@pytest.mark.parametrize(
    ("device_gib", "mode", "tokens", "given", "want"),
    [
        # 1B full at 32k tokens a step: 68 GiB without checkpointing, 27 with.
        (141, "full", 32_768, None, (False, "auto")),
        (80, "full", 32_768, None, (True, "auto")),
        (24, "full", 32_768, None, (True, "bfloat16")),
        (141, "full", 131_072, None, (True, "auto")),
        # The user's checkpointing is kept; only the dtype may still follow memory.
        (141, "full", 32_768, True, (True, "auto")),
        (24, "full", 32_768, False, (False, "bfloat16")),
        # LoRA never changes the dtype.
        (141, "lora", 32_768, None, (False, "auto")),
        (24, "lora", 32_768, None, (True, "auto")),
    ],
)
def test_choice_by_device_size(device_gib, mode, tokens, given, want):
    weights = 4 if mode == "full" else 2
    choice = choose(
        need_for(LLAMA_1B, mode, tokens),
        device_bytes=device_gib * GIB,
        weights_bytes=weights,
        may_halve=mode == "full",
        checkpointing=given,
    )
    assert choice[:2] == want
    assert f"{device_gib} GiB" in choice.why


def test_nothing_fits_says_so():
    choice = choose(
        need_for(LLAMA_1B, "full", 32_768), device_bytes=8 * GIB, weights_bytes=4, may_halve=True
    )
    assert choice[:2] == (True, "bfloat16")
    assert "may not fit" in choice.why


# -- the step each trainer takes ----------------------------------------------------------


@pytest.fixture
def on_a_gpu(monkeypatch, tmp_path):
    """memory_defaults as on an 80 GiB GPU with bf16, for a model folder of the 1B's shape
    (config.json only: nothing is loaded)."""
    import json

    from train import machine, models

    monkeypatch.setattr(machine, "device_memory", lambda: 80 * GIB)
    monkeypatch.setattr(machine, "bf16_supported", lambda device: device == "cuda")
    monkeypatch.setattr(models, "bf16_supported", lambda device: device == "cuda")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA_1B_CONFIG))
    return folder


@pytest.mark.parametrize(
    ("kind", "mode", "sets", "want_checkpointing", "want_dtype"),
    [
        # The prepared rows are short (< 256 tokens): 8 of them fit easily.
        ("sft", "full", {}, False, "auto"),
        ("dpo", "full", {}, False, "auto"),
        ("kto", "lora", {}, False, "auto"),
        # A batch large enough not to fit without checkpointing on 80 GiB.
        ("sft", "full", {"per_device_train_batch_size": 2048}, True, "auto"),
        ("sft", "full", {"activation_checkpointing": True}, True, "auto"),
        ("sft", "full", {"gradient_checkpointing": True}, None, "auto"),
    ],
)
def test_memory_defaults_on_a_gpu(
    on_a_gpu, request, kind, mode, sets, want_checkpointing, want_dtype, capsys
):
    from train.config import RunConfig
    from train.data import load_prepared
    from train.run import memory_defaults

    data = load_prepared(request.getfixturevalue(f"{kind}_data"), kind=kind)
    run = RunConfig(model=str(on_a_gpu), mode=mode, trl=dict(sets))
    chosen = memory_defaults(run, data, kind, "cuda")
    assert chosen.trl.get("activation_checkpointing") == want_checkpointing
    assert chosen.model_dtype == want_dtype
    assert run.trl == sets  # the given config is not changed in place
    captured = capsys.readouterr()
    said = captured.err + captured.out
    assert "memory: activation checkpointing" in said


def test_memory_defaults_leave_cpu_runs_and_given_settings(on_a_gpu, sft_data):
    from train.config import RunConfig
    from train.data import load_prepared
    from train.run import memory_defaults

    data = load_prepared(sft_data, kind="sft")
    run = RunConfig(model=str(on_a_gpu), mode="full")
    assert memory_defaults(run, data, "sft", "cpu") is run
    given = RunConfig(
        model=str(on_a_gpu),
        mode="full",
        model_dtype="bfloat16",
        trl={"activation_checkpointing": False},
    )
    assert memory_defaults(given, data, "sft", "cuda") is given


def test_longest_row_counts_the_pair(dpo_data):
    from train.data import load_prepared
    from train.run import FORWARD_COLUMNS

    data = load_prepared(dpo_data, kind="dpo")
    rows = data.train.to_list()
    want = max(
        2 * len(r["prompt_ids"]) + len(r["chosen_ids"]) + len(r["rejected_ids"]) for r in rows
    )
    assert memory.longest_row(data.train, FORWARD_COLUMNS["dpo"]) == want
