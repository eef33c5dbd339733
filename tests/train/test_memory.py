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


@pytest.mark.parametrize(("dropout", "measured_gib"), [(False, 101.72), (True, 121.16)])
def test_estimate_is_near_the_measured_lora_peak(dropout, measured_gib):
    # `train sft` (LoRA r16) of an 8B Llama on one H200, micro-batches of 4 packed rows of
    # 4096, max_memory_allocated without dropout (the default) and with 0.05
    # (BENCHMARKS.md, issue 11).
    eight = {**LLAMA_1B_CONFIG, "hidden_size": 4096, "intermediate_size": 14336}
    eight.update(num_hidden_layers=32, head_dim=128, tie_word_embeddings=False)
    shape = model_shape(eight)
    need = estimate(shape, mode="lora", weights_bytes=2, tokens=4 * 4096, dropout=dropout)
    assert measured_gib * 0.98 <= need.total(checkpointing=False) / GIB <= measured_gib * 1.10


@pytest.mark.parametrize(
    ("method", "measured_gib"),
    [
        # `train orpo|simpo|reward --full`, bf16 weights, no checkpointing, 8 prepared pairs
        # of up to 1,983 tokens (chosen and rejected in one forward), 1B Llama on one H200:
        # max_memory_allocated (BENCHMARKS.md, issue 11). ORPO and SimPO hold the whole
        # vocabulary's logits; the reward model has no LM head (the estimate is above it).
        ("orpo", 36.00),
        ("simpo", 32.24),
    ],
)
def test_estimate_counts_whole_vocabulary_logits(method, measured_gib):
    shape = model_shape(LLAMA_1B_CONFIG)
    kw = {"mode": "full", "weights_bytes": 2, "tokens": 8 * 1983}
    need = estimate(shape, **kw, logits_bytes=memory.LOGITS_BYTES[method])
    assert measured_gib * 0.98 <= need.total(checkpointing=False) / GIB <= measured_gib * 1.10
    # Checkpointing recomputes layers, not the logits: they count either way.
    without = estimate(shape, **kw)
    gap = need.total(checkpointing=True) - without.total(checkpointing=True)
    assert gap == pytest.approx(need.scores) and need.scores > 0
    assert "dpo" not in memory.LOGITS_BYTES  # TRL's chunked LM head never holds them


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


@pytest.mark.parametrize(
    ("device_gib", "mode", "split", "given", "want"),
    [
        # 1B full, 8 rows of 4096 a step: 68 GiB without checkpointing, 27 with.
        (141, "full", False, None, (False, "auto", 8)),
        (72, "full", False, None, (True, "auto", 8)),
        (24, "full", False, None, (True, "bfloat16", 8)),
        # Our batch size may be split rather than recomputing activations.
        (72, "full", True, None, (False, "auto", 4)),
        (48, "full", True, None, (False, "auto", 2)),
        (36, "full", True, None, (True, "auto", 8)),
        # The user's checkpointing is kept; only the dtype may still follow memory.
        (141, "full", False, True, (True, "auto", 8)),
        (24, "full", False, False, (False, "bfloat16", 8)),
        # LoRA never changes the dtype.
        (141, "lora", False, None, (False, "auto", 8)),
        (24, "lora", False, None, (True, "auto", 8)),
    ],
)
def test_choice_by_device_size(device_gib, mode, split, given, want):
    weights = 4 if mode == "full" else 2

    def need(weights_bytes, rows):
        return estimate(LLAMA_1B, mode=mode, weights_bytes=weights_bytes, tokens=rows * 4096)

    choice = choose(
        need,
        device_bytes=device_gib * GIB,
        weights_bytes=weights,
        batch=8,
        may_split=split,
        may_halve=mode == "full",
        checkpointing=given,
    )
    assert choice[:3] == want
    assert f"{device_gib} GiB" in choice.why


def test_micro_batches_keep_a_floor():
    def need(weights_bytes, rows):
        return estimate(LLAMA_1B, mode="lora", weights_bytes=2, tokens=rows * 4096)

    # 2 rows would fit, but KTO needs 2 or more in a micro-batch and 4 does not fit here.
    args = dict(device_bytes=30 * GIB, weights_bytes=2, batch=4, may_split=True)
    assert choose(need, **args).rows == 2
    assert choose(need, **args, min_rows=3)[:3] == (True, "auto", 4)


def test_nothing_fits_says_so():
    def need(weights_bytes, rows):
        return estimate(LLAMA_1B, mode="full", weights_bytes=weights_bytes, tokens=rows * 4096)

    choice = choose(need, device_bytes=8 * GIB, weights_bytes=4, batch=8, may_halve=True)
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


def test_memory_defaults_split_our_batch(on_a_gpu, sft_data, monkeypatch):
    """Where 8 rows a step would not fit without checkpointing and 4 would, our batch is
    split in two with gradient accumulation; a batch size the user gave is not."""
    from train import machine
    from train.config import RunConfig
    from train.data import load_prepared
    from train.run import FORWARD_COLUMNS, memory_defaults

    data = load_prepared(sft_data, kind="sft")
    longest = memory.longest_row(data.train, FORWARD_COLUMNS["sft"])
    shape = memory.read_model_shape(on_a_gpu)

    def total(rows):
        need = estimate(shape, mode="full", weights_bytes=4, tokens=rows * longest)
        return need.total(checkpointing=False)

    between = (total(4) + total(8)) / 2 / memory.HEADROOM
    monkeypatch.setattr(machine, "device_memory", lambda: between)
    run = RunConfig(model=str(on_a_gpu), mode="full", trl={"gradient_accumulation_steps": 3})
    chosen = memory_defaults(run, data, "sft", "cuda")
    assert chosen.trl["per_device_train_batch_size"] == 4
    assert chosen.trl["gradient_accumulation_steps"] == 6
    assert chosen.trl["activation_checkpointing"] is False
    given = RunConfig(model=str(on_a_gpu), mode="full", trl={"per_device_train_batch_size": 8})
    chosen = memory_defaults(given, data, "sft", "cuda")
    assert chosen.trl["per_device_train_batch_size"] == 8
    assert chosen.trl["activation_checkpointing"] is True


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
